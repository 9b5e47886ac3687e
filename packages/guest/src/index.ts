export { resolveGuestAssets, guestAssetsDir, checkKernelFile } from './assets.js';
export type { GuestAssets, ResolveGuestAssetsOptions } from './assets.js';
export { buildCpio, writeInitramfs } from './cpio.js';
export type { CpioEntry } from './cpio.js';
export { buildExt4 } from './rootfs.js';
export type { BuildExt4Options } from './rootfs.js';
export { GuestError } from './errors.js';
