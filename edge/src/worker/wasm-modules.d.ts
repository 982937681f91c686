// Wrangler imports .wasm files as precompiled modules (the CompiledWasm rule in wrangler.toml).
declare module '*.wasm' {
  const module: WebAssembly.Module;
  export default module;
}
