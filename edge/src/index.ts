export * from './app.js';
export * from './check.js';
export * from './config.js';
export * from './limiter.js';
export * from './models.js';
export * from './runtime.js';
export * from './schemas.js';
