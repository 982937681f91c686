export * from './backend.js';
export * from './networks.js';
export * from './rng.js';
