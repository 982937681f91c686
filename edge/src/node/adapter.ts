/**
 * The Node runtime adapter alone (sharp, onnxruntime-node, worker threads), without the HTTP app:
 * what `blankspot check` and other Node programs run the core's pipeline on.
 */
export { sharpDecoder } from './decode.js';
export { createNodeSession } from './onnx.js';
export { REPO_MODELS_DIR, createNodeRuntime } from './runtime.js';
