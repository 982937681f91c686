export { REPO_MODELS_DIR, createNodeRuntime, createNodeSession, sharpDecoder } from '@blankspot/runtime-node';
export { startNodeServer, type NodeServer } from './server.js';
export { allocator, relaunchOnJemalloc } from './allocator.js';
