import { config } from './tooling/eslint-config/index.js';

export default config;
