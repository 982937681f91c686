/**
 * <blankspot-check>: wrap (or sit beside) a file input; every chosen photo is checked in the browser
 * at once. The verdict appears with a thumbnail, is announced to screen readers, and is fired as an
 * event. With mode="block" a flagged photo makes the input invalid (the form will not submit);
 * mode="confirm" lets the seller upload anyway after confirming; mode="warn" only shows the verdict.
 *
 * Attributes: models (URL of the folder with manifest.json), model (name), mode, for (id of an input
 * elsewhere on the page), preload: when ONNX Runtime and the model load, "picker" (default: when the
 * file picker opens or a file is dragged over, so they are ready while the seller chooses), "idle" (as
 * soon as the page is idle) or "none" (on the first photo). Events: blankspot-result (detail: the result, the file), blankspot-error
 * (detail: {message, code, file}).
 */
import { check, prepare, type CheckResult } from './check.js';
import { SENSITIVITIES, type Sensitivity } from '@blankspot/core';

const STYLE = `
:host { display: block; font: inherit; color: inherit; color-scheme: light dark; --bs-ok: #0a7d32; --bs-bad: #b00020; }
@media (prefers-color-scheme: dark) { :host { --bs-ok: #5fd38a; --bs-bad: #ff7b8a; } }
.result { display: flex; gap: .75rem; align-items: center; margin-top: .5rem; }
.result[hidden] { display: none; }
.thumb { position: relative; width: 96px; height: 96px; flex: none; border-radius: .25rem; overflow: hidden; background: #8882; }
.thumb img { width: 100%; height: 100%; object-fit: fill; display: block; }
.thumb .box { position: absolute; border: 2px solid var(--bs-bad); box-sizing: border-box; }
.verdict.ok { color: var(--bs-ok); } .verdict.bad { color: var(--bs-bad); } .verdict { font-weight: 600; }
button { font: inherit; margin-top: .25rem; }
/* The live region speaks to screen readers; sighted users read the verdict beside the thumbnail. */
.live { position: absolute; width: 1px; height: 1px; overflow: hidden; clip-path: inset(50%); white-space: nowrap; }
`;

/** The `sensitivity` attribute: high, balanced or low; anything else means the model's own threshold. */
function sensitivityAttribute(value: string | null): Sensitivity | undefined {
  return (SENSITIVITIES as readonly string[]).includes(value ?? '') ? (value as Sensitivity) : undefined;
}

export class BlankspotCheckElement extends HTMLElement {
  static observedAttributes = ['mode'];
  private readonly root: ShadowRoot;
  private input: HTMLInputElement | null = null;
  private readonly live: HTMLElement;
  private readonly result: HTMLElement;
  private readonly img: HTMLImageElement;
  private readonly box: HTMLElement;
  private readonly text: HTMLElement;
  private readonly confirmButton: HTMLButtonElement;
  private objectUrl: string | null = null;
  private run = 0;

  constructor() {
    super();
    this.root = this.attachShadow({ mode: 'open' });
    this.root.innerHTML = `<style>${STYLE}</style><slot></slot>
      <div class="result" part="result" hidden>
        <div class="thumb" part="thumbnail"><img alt=""><div class="box" hidden></div></div>
        <div><div class="verdict" part="verdict"></div><button type="button" part="confirm" hidden>Upload anyway</button></div>
      </div>
      <div role="status" aria-live="polite" class="live" part="status"></div>`;
    this.live = this.root.querySelector('.live')!;
    this.result = this.root.querySelector('.result')!;
    this.img = this.root.querySelector('img')!;
    this.box = this.root.querySelector('.box')!;
    this.text = this.root.querySelector('.verdict')!;
    this.confirmButton = this.root.querySelector('button')!;
    this.confirmButton.addEventListener('click', () => {
      this.input?.setCustomValidity('');
      this.confirmButton.hidden = true;
      this.announce('Confirmed: the photo will be uploaded as it is.');
    });
  }

  connectedCallback(): void {
    const target = this.getAttribute('for');
    this.input = target ? (document.getElementById(target) as HTMLInputElement | null) : this.querySelector('input[type=file]');
    this.input?.addEventListener('change', this.onChange);
    this.input?.addEventListener('click', this.onPickerOpen);
    this.addEventListener('dragenter', this.onPickerOpen);
    if (this.getAttribute('preload') === 'idle') {
      const whenIdle = (globalThis as { requestIdleCallback?: (f: () => void) => void }).requestIdleCallback ?? setTimeout;
      whenIdle(() => this.preload());
    }
  }

  disconnectedCallback(): void {
    this.input?.removeEventListener('change', this.onChange);
    this.input?.removeEventListener('click', this.onPickerOpen);
    this.removeEventListener('dragenter', this.onPickerOpen);
    if (this.objectUrl) URL.revokeObjectURL(this.objectUrl);
  }

  get mode(): 'block' | 'confirm' | 'warn' {
    const m = this.getAttribute('mode');
    return m === 'block' || m === 'warn' ? m : 'confirm';
  }

  private preload(): void {
    // A failure here is the first check's to report: it loads again and says why.
    void prepare({ modelsUrl: this.getAttribute('models') ?? undefined, model: this.getAttribute('model') ?? undefined }).catch(
      () => undefined,
    );
  }

  private readonly onPickerOpen = () => {
    if (this.getAttribute('preload') !== 'none') this.preload();
  };

  private readonly onChange = () => {
    const file = this.input?.files?.[0];
    if (file) void this.checkFile(file);
  };

  private announce(message: string): void {
    this.live.textContent = message;
  }

  /** Checks one file and shows the verdict; resolves with the result (or null after an error). */
  async checkFile(file: File | Blob): Promise<CheckResult | null> {
    const run = ++this.run;
    this.input?.setCustomValidity('');
    this.confirmButton.hidden = true;
    this.box.hidden = true;
    if (this.objectUrl) URL.revokeObjectURL(this.objectUrl);
    const url = (this.objectUrl = URL.createObjectURL(file));
    // The thumbnail is shown with the verdict, not before: the browser decoding a large photo for it
    // competes with the check for the CPU (a 12 MP JPEG's check took about 1.5x as long on 2 cores).
    this.img.removeAttribute('src');
    this.result.hidden = false;
    this.text.className = 'verdict';
    this.text.textContent = 'Checking the photo…';
    this.setAttribute('aria-busy', 'true');
    try {
      const result = await check(file, {
        modelsUrl: this.getAttribute('models') ?? undefined,
        model: this.getAttribute('model') ?? undefined,
        sensitivity: sensitivityAttribute(this.getAttribute('sensitivity')),
      });
      if (run !== this.run) return result; // a newer photo was chosen meanwhile
      this.img.src = url;
      const message = result.flagged
        ? 'This photo seems damaged: a white rectangle was found.'
        : 'No white rectangle found in this photo.';
      this.text.textContent = message;
      this.text.className = `verdict ${result.flagged ? 'bad' : 'ok'}`;
      // The thumbnail takes the photo's shape (longest side 96px), so a box in percent lands where it should.
      const { width: w, height: h } = result.image;
      const thumb = this.box.parentElement!;
      thumb.style.width = `${Math.round(96 * Math.min(1, w / h) * 100) / 100}px`;
      thumb.style.height = `${Math.round(96 * Math.min(1, h / w) * 100) / 100}px`;
      if (result.box) {
        const { x, y, width, height } = result.box;
        const s = (v: number, of: number) => `${(100 * v) / of}%`;
        Object.assign(this.box.style, {
          left: s(x, result.image.width),
          top: s(y, result.image.height),
          width: s(width, result.image.width),
          height: s(height, result.image.height),
        });
        this.box.hidden = false;
      }
      if (result.flagged && this.mode !== 'warn') {
        this.input?.setCustomValidity(message);
        this.confirmButton.hidden = this.mode !== 'confirm';
      }
      this.announce(`${message} Score ${result.score.toFixed(2)}.`);
      this.dispatchEvent(new CustomEvent('blankspot-result', { detail: { result, file }, bubbles: true, composed: true }));
      return result;
    } catch (e) {
      if (run !== this.run) return null;
      this.img.src = url;
      const message = `This file cannot be checked: ${e instanceof Error ? e.message : String(e)}`;
      this.text.textContent = message;
      this.text.className = 'verdict bad';
      this.announce(message);
      const code = (e as { code?: string }).code ?? 'INTERNAL';
      this.dispatchEvent(new CustomEvent('blankspot-error', { detail: { message, code, file }, bubbles: true, composed: true }));
      return null;
    } finally {
      if (run === this.run) this.removeAttribute('aria-busy');
    }
  }
}
