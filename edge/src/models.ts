/** The models of the manifest, loaded once: verified by sha256, each with its session or the reason it failed. */
import { BlankspotError, findModel, verifyModelBytes, type ModelEntry, type ModelManifest } from '@blankspot/core';
import type { EdgeRuntime, InferenceSession } from './runtime.js';

export interface ModelState {
  entry: ModelEntry;
  session: InferenceSession | null;
  error: string | null;
}

export class ModelRegistry {
  private readonly reloading = new Map<string, Promise<void>>();

  private constructor(
    readonly manifest: ModelManifest | null,
    private readonly states: Map<string, ModelState>,
    /** Why the manifest itself could not be read, if it could not. */
    readonly manifestError: string | null,
  ) {}

  /** Loads every model; a model that fails is kept with its error so /healthz can say why. */
  static async load(runtime: EdgeRuntime): Promise<ModelRegistry> {
    let manifest: ModelManifest;
    try {
      manifest = await runtime.readManifest();
    } catch (e) {
      return new ModelRegistry(null, new Map(), e instanceof Error ? e.message : String(e));
    }
    const states = new Map<string, ModelState>();
    await Promise.all(
      manifest.models.map(async (entry) => {
        try {
          const bytes = await runtime.readModelFile(entry.file);
          await verifyModelBytes(entry, bytes);
          states.set(entry.name, { entry, session: await runtime.createSession(bytes), error: null });
        } catch (e) {
          states.set(entry.name, { entry, session: null, error: e instanceof Error ? e.message : String(e) });
        }
      }),
    );
    return new ModelRegistry(manifest, states, null);
  }

  list(): ModelState[] {
    return this.manifest ? this.manifest.models.map((m) => this.states.get(m.name)!) : [];
  }

  get defaultName(): string | null {
    return this.manifest?.default ?? null;
  }

  /** The ready session of a model, or the error the API answers with. */
  get(name?: string): { entry: ModelEntry; session: InferenceSession } {
    if (this.manifest == null) throw new BlankspotError('MODEL_UNAVAILABLE', `no models: ${this.manifestError}`);
    let entry: ModelEntry;
    try {
      entry = findModel(this.manifest, name);
    } catch {
      throw new BlankspotError('BAD_REQUEST', `unknown model '${name}'; GET /v1/models lists them`);
    }
    const state = this.states.get(entry.name)!;
    if (state.session == null)
      throw new BlankspotError('MODEL_UNAVAILABLE', `model ${entry.name} is unavailable: ${state.error}`);
    return { entry, session: state.session };
  }

  /**
   * A session that broke mid-run: report it (health says why, requests get 503) and load the model
   * afresh in the background; requests succeed again once that is done.
   */
  recover(name: string, error: string, runtime: EdgeRuntime): void {
    const state = this.states.get(name);
    if (state == null || this.reloading.has(name)) return;
    const broken = state.session;
    state.session = null;
    state.error = `session failed: ${error}; reloading`;
    const reload = (async () => {
      try {
        const bytes = await runtime.readModelFile(state.entry.file);
        await verifyModelBytes(state.entry, bytes);
        state.session = await runtime.createSession(bytes);
        state.error = null;
      } catch (e) {
        state.error = `reload failed: ${e instanceof Error ? e.message : String(e)}`;
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
    await Promise.all([...this.states.values()].map((s) => s.session?.release()));
  }
}
