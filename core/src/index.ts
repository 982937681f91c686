export * from './contract.js';
export * from './preprocess.js';
export * from './errors.js';
export * from './limits.js';
export * from './verdict.js';
export * from './manifest.js';
export * from './image-format.js';
