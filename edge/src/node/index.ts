export * from './decode.js';
export * from './onnx.js';
export * from './runtime.js';
export * from './server.js';
