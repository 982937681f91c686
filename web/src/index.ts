/** The blankspot widget: `<script type="module" src=".../blankspot.js">` and a <blankspot-check> element. */
import { BlankspotCheckElement } from './element.js';
import { check, prepare, runtimeInfo } from './check.js';

export { BlankspotCheckElement, check, prepare, runtimeInfo };
export type { CheckOptions, CheckResult } from './check.js';

if (!customElements.get('blankspot-check')) customElements.define('blankspot-check', BlankspotCheckElement);
// For pages that do not import modules: window.blankspot.check(file).
(globalThis as { blankspot?: unknown }).blankspot = { check, prepare, runtimeInfo };
