/**
 * The Node runtime adapter, without the HTTP app: what the API server, `blankspot check` and
 * `blankspot export` run the core's pipeline on.
 */
export { sharpDecoder } from './decode.js';
export { createNodeSession } from './onnx.js';
export { REPO_MODELS_DIR, createNodeRuntime } from './runtime.js';
export { closeJpegThreads } from './jpeg-pool.js';
