export * from './app.js';
export * from './config.js';
export * from './limiter.js';
export * from './schemas.js';
