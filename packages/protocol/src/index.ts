export {
  PROTOCOL_VERSION,
  HEADER_SIZE,
  MAX_PAYLOAD,
  MAX_DATA_CHUNK,
  MAX_STRING,
  MAX_LIST,
  STDIN_WINDOW,
  FLAG_FIN,
  Capability,
  ALL_CAPABILITIES,
  ExecFlag,
  FsFlag,
  FsKind,
  AgentErrorCode,
  FrameType,
  FrameReader,
  encodeFrame,
  decodeFrame,
  checkHeader,
  decodePayload,
} from './frame.js';
export type { Frame, FrameTypeName, FrameHeader } from './frame.js';
export { describeFrame, describeBytes } from './describe.js';
export {
  AgentConnection,
  ExecStream,
  AgentError,
  ChannelClosedError,
  GuestFsError,
  DEFAULT_OUTPUT_WINDOW,
} from './connection.js';
export type { AgentConnectionOptions, ExecRequest, ExecHandlers, ExitInfo, HelloInfo, FsEntry, FsRequest } from './connection.js';
export { ProtocolError, FrameDecodeError, isSmolvmError } from './errors.js';
export type { DecodeReason } from './errors.js';
