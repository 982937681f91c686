export { createApp, type App } from './app.js';
export { DEFAULT_CONFIG, configFromEnv, type EdgeConfig } from './config.js';
export { Box, CheckQuery, CheckResult, ErrorBody, Health, ModelInfo, ModelList } from './schemas.js';
