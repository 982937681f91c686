export * from './onnx-graph.js';
export * from './export.js';
export * from './models.js';
export * from './evaluate.js';
