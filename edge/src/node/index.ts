export { REPO_MODELS_DIR, createNodeRuntime, createNodeSession, sharpDecoder } from './adapter.js';
export { startNodeServer, type NodeServer } from './server.js';
export { allocator, relaunchOnJemalloc } from './allocator.js';
