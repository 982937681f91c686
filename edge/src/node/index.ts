export { sharpDecoder } from './decode.js';
export { createNodeSession } from './onnx.js';
export { REPO_MODELS_DIR, createNodeRuntime } from './runtime.js';
export { startNodeServer, type NodeServer } from './server.js';
export { allocator, relaunchOnJemalloc } from './allocator.js';
