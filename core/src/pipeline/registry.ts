/** The models of the manifest, loaded once: verified by sha256, each with its session or the reason it failed. */
import { BlankspotError } from '../errors.js';
import { findModel, verifyModelBytes, type ModelEntry, type ModelManifest } from '../manifest.js';
import type { ModelRuntime, InferenceSession } from './ports.js';

export interface ModelState {
  entry: ModelEntry;
  session: InferenceSession | null;
  error: string | null;
  /** The error that made the model unavailable, for callers that report its own code (the widget). */
  failure: unknown;
}

export class ModelRegistry {
  private readonly reloading = new Map<string, Promise<void>>();

  private constructor(
    readonly manifest: ModelManifest | null,
    private readonly states: Map<string, ModelState>,
    private readonly runtime: ModelRuntime | null,
    /** Why the manifest itself could not be read, if it could not. */
    readonly manifestError: string | null,
  ) {}

  /** Each model's first load, started when first needed; a model that fails keeps its error for /healthz. */
  private readonly loading = new Map<string, Promise<void>>();

  /**
   * Reads the manifest and loads the default model; the others load when first asked for. A cold
   * Worker so answers its first check without loading models nobody asked for (loading every model's
   * session was most of a cold start). Loads start in the request that needs them,
   * as Workers tie I/O to a request; nothing runs in the background.
   */
  static async load(runtime: ModelRuntime, options: { first?: string } = {}): Promise<ModelRegistry> {
    let manifest: ModelManifest;
    try {
      manifest = await runtime.readManifest();
    } catch (e) {
      return new ModelRegistry(null, new Map(), null, e instanceof Error ? e.message : String(e));
    }
    const states = new Map<string, ModelState>();
    for (const entry of manifest.models) states.set(entry.name, { entry, session: null, error: null, failure: null });
    const registry = new ModelRegistry(manifest, states, runtime, null);
    // The model asked for first (the widget's `model` attribute), else the default; a name the
    // manifest does not know loads nothing here and is refused by get().
    const first = options.first ?? manifest.default;
    if (states.has(first)) await registry.ensure(first);
    return registry;
  }

  private ensure(name: string): Promise<void> {
    let pending = this.loading.get(name);
    if (!pending) {
      const state = this.states.get(name)!;
      const runtime = this.runtime!;
      pending = (async () => {
        try {
          const bytes = await runtime.readModelFile(state.entry.file);
          await verifyModelBytes(state.entry, bytes);
          state.session = await runtime.createSession(bytes, state.entry);
        } catch (e) {
          state.error = e instanceof Error ? e.message : String(e);
          state.failure = e;
        }
      })();
      this.loading.set(name, pending);
    }
    return pending;
  }

  /** Loads every model not loaded yet and resolves when each has loaded or failed (/healthz, /v1/models, start-up checks). */
  async loaded(): Promise<void> {
    await Promise.all([...this.states.keys()].map((name) => this.ensure(name)));
  }

  list(): ModelState[] {
    return this.manifest ? this.manifest.models.map((m) => this.states.get(m.name)!) : [];
  }

  get defaultName(): string | null {
    return this.manifest?.default ?? null;
  }

  /** The ready session of a model (waiting for its first load), or the error the API answers with. */
  async get(name?: string): Promise<{ entry: ModelEntry; session: InferenceSession }> {
    if (this.manifest == null) throw new BlankspotError('MODEL_UNAVAILABLE', `no models: ${this.manifestError}`);
    let entry: ModelEntry;
    try {
      entry = findModel(this.manifest, name);
    } catch {
      throw new BlankspotError(
        'BAD_REQUEST',
        `unknown model '${name}': GET /v1/models (or the models folder's manifest.json) lists them`,
      );
    }
    await this.ensure(entry.name);
    const state = this.states.get(entry.name)!;
    if (state.session == null)
      throw new BlankspotError('MODEL_UNAVAILABLE', `model ${entry.name} is unavailable: ${state.error}`);
    return { entry, session: state.session };
  }

  /**
   * A session that broke mid-run: report it (health says why, requests get 503) and load the model
   * afresh in the background; requests succeed again once that is done.
   */
  recover(name: string, error: string, runtime: ModelRuntime): void {
    const state = this.states.get(name);
    if (state == null || this.reloading.has(name)) return;
    const broken = state.session;
    state.session = null;
    state.error = `session failed: ${error}; reloading`;
    state.failure = null;
    const reload = (async () => {
      try {
        const bytes = await runtime.readModelFile(state.entry.file);
        await verifyModelBytes(state.entry, bytes);
        state.session = await runtime.createSession(bytes, state.entry);
        state.error = null;
        state.failure = null;
      } catch (e) {
        state.error = `reload failed: ${e instanceof Error ? e.message : String(e)}`;
        state.failure = e;
      } finally {
        this.reloading.delete(name);
        await broken?.release().catch(() => undefined);
      }
    })();
    this.reloading.set(name, reload);
  }

  /** Resolves when no reload is running (for tests and graceful shutdown). */
  async settled(): Promise<void> {
    await Promise.all(this.reloading.values());
  }

  async release(): Promise<void> {
    // Only loads already started: releasing should not load anything.
    await Promise.all(this.loading.values());
    // Each session once, however often this is called.
    const sessions = [...this.states.values()].flatMap((s) => (s.session ? [s.session] : []));
    for (const s of this.states.values()) s.session = null;
    await Promise.all(sessions.map((s) => s.release()));
  }
}
