#!/usr/bin/env node
/**
 * `npm run setup:native`: makes `--backend tensorflow` work on a Linux x86-64 machine that can reach
 * only the package registries (npm and PyPI).
 *
 * @tensorflow/tfjs-node's own install script downloads libtensorflow and a prebuilt binding from
 * storage.googleapis.com. The same TensorFlow C API ships inside PyPI's tensorflow-cpu wheel
 * (libtensorflow_cc.so.2 exports the TF_* / TFE_* symbols, include/tensorflow/c/ holds the headers),
 * and tfjs-node's npm package carries its binding's sources, so this script:
 *   1. installs @tensorflow/tfjs-node without its install script (not saved to package.json),
 *   2. fetches the tensorflow-cpu wheel with `pip download` (cached in .cache/native/),
 *   3. lays the wheel's libraries and headers out where tfjs-node's binding.gyp expects deps/,
 *   4. patches the binding to take list(string) op attributes (TensorFlow's fused convolution needs
 *      them) and builds it with the node-gyp that ships with npm, against this Node's own headers
 *      when the Node package installed them (Debian's does: no header download),
 *   5. loads it and runs one op on the tensorflow backend.
 * `npm ci` removes it again; run this after it. Written as a plain script because it runs before any
 * build, and by hand because no package does this layout.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, copyFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const TENSORFLOW_WHEEL = 'tensorflow-cpu==2.21.0';
const cacheDir = join(root, '.cache/native');

function fail(message) {
  console.error(`setup:native: ${message}`);
  process.exit(1);
}
function step(message) {
  console.error(`setup:native: ${message}`);
}
function run(cmd, args, options = {}) {
  execFileSync(cmd, args, { stdio: ['ignore', 'inherit', 'inherit'], ...options });
}

if (process.platform !== 'linux' || process.arch !== 'x64') {
  fail(
    `only Linux x86-64 is set up from PyPI; on ${process.platform}-${process.arch} run ` +
      '`npm install --no-save @tensorflow/tfjs-node` where storage.googleapis.com is reachable.',
  );
}

// 1. The package, at the version the trainer's peer dependency names, without its downloading installer.
const trainingPackage = JSON.parse(readFileSync(join(root, 'training/package.json'), 'utf8'));
const version = trainingPackage.peerDependencies['@tensorflow/tfjs-node'];
const tfjsNodeDir = join(root, 'node_modules/@tensorflow/tfjs-node');
const installedVersion = existsSync(join(tfjsNodeDir, 'package.json'))
  ? JSON.parse(readFileSync(join(tfjsNodeDir, 'package.json'), 'utf8')).version
  : null;
if (installedVersion !== version) {
  step(`installing @tensorflow/tfjs-node@${version} (install script skipped)`);
  run('npm', ['install', '--no-save', '--ignore-scripts', '--no-audit', '--no-fund', `@tensorflow/tfjs-node@${version}`], {
    cwd: root,
  });
}

// 2. The wheel. Platform and Python version are pinned so the local Python's own version does not matter.
mkdirSync(cacheDir, { recursive: true });
const findWheel = () => readdirSync(cacheDir).find((f) => f.startsWith('tensorflow_cpu-') && f.endsWith('.whl'));
if (!findWheel()) {
  step(`downloading ${TENSORFLOW_WHEEL} from PyPI (about 270 MB, cached in .cache/native)`);
  const pipArgs = ['-m', 'pip', 'download', '--no-deps', '--only-binary=:all:', '--platform', 'manylinux_2_27_x86_64'];
  pipArgs.push('--python-version', '3.11', '-d', cacheDir, TENSORFLOW_WHEEL);
  const pythons = ['python3', '/usr/bin/python3'];
  const ok = pythons.some((python) => {
    try {
      run(python, pipArgs);
      return true;
    } catch {
      return false;
    }
  });
  if (!ok || !findWheel()) fail(`pip could not download ${TENSORFLOW_WHEEL} (is pip installed? Debian: python3-pip)`);
}
const wheel = join(cacheDir, findWheel());

// 3. deps/ as tfjs-node's binding.gyp wants it: deps/include and deps/lib/libtensorflow{,_framework}.so.
const deps = join(tfjsNodeDir, 'deps');
const libDir = join(deps, 'lib');
if (!existsSync(join(libDir, 'libtensorflow_cc.so.2'))) {
  step('unpacking the TensorFlow C library and headers from the wheel');
  rmSync(deps, { recursive: true, force: true });
  mkdirSync(libDir, { recursive: true });
  // Python's zipfile (Python is there: pip just ran), so no unzip package is needed.
  const extract = `
import sys, zipfile, os, shutil
wheel, deps = sys.argv[1], sys.argv[2]
libs = ('tensorflow/libtensorflow_cc.so.2', 'tensorflow/libtensorflow_framework.so.2')
headers = ('tensorflow/include/tensorflow/c/', 'tensorflow/include/tsl/platform/',
           'tensorflow/include/tensorflow/core/platform/ctstring', 'tensorflow/include/xla/tsl/c/')
with zipfile.ZipFile(wheel) as z:
    for name in z.namelist():
        if name in libs:
            target = os.path.join(deps, 'lib', os.path.basename(name))
        elif name.startswith(headers) and not name.endswith('/'):
            target = os.path.join(deps, 'include', name[len('tensorflow/include/'):])
        else:
            continue
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with z.open(name) as src, open(target, 'wb') as dst:
            shutil.copyfileobj(src, dst)
`;
  run('python3', ['-c', extract, wheel, deps]);
  for (const lib of ['libtensorflow_cc.so.2', 'libtensorflow_framework.so.2']) {
    if (!existsSync(join(libDir, lib))) fail(`${lib} is not in ${wheel}`);
  }
  // The wheel's C API library is libtensorflow_cc; the binding links -ltensorflow.
  symlinkSync('libtensorflow_cc.so.2', join(libDir, 'libtensorflow.so'));
  symlinkSync('libtensorflow_cc.so.2', join(libDir, 'libtensorflow.so.2'));
  symlinkSync('libtensorflow_framework.so.2', join(libDir, 'libtensorflow_framework.so'));
}

// 4. The binding, built where node-pre-gyp's find() (what tfjs-node loads) looks for it.
const requireFromTfjsNode = createRequire(join(tfjsNodeDir, 'package.json'));
const bindingPath = requireFromTfjsNode('@mapbox/node-pre-gyp').find(join(tfjsNodeDir, 'package.json'));
const napiVersion = /napi-v(\d+)/.exec(bindingPath)?.[1];
// One patch to the binding's sources: list(string) and list(type) attributes. The stock binding takes
// a string or type attr only as one value, and TensorFlow's fused convolution names its epilogue as
// lists (fused_ops: ["BiasAdd", "Relu"], TArgs: [float]); training/src/native-kernels.ts probes for
// the patch and keeps the stock kernel without it.
const backendSource = join(tfjsNodeDir, 'binding/tfjs_backend.cc');
const ELEMENTS = `        uint32_t length;
        nstatus = napi_get_array_length(env, js_value, &length);
        ENSURE_NAPI_OK(env, nstatus);`;
const ELEMENT = `          napi_value element;
          nstatus = napi_get_element(env, js_value, i, &element);
          ENSURE_NAPI_OK(env, nstatus);`;
const patches = [
  {
    at: '    case TF_ATTR_STRING: {\n',
    insert: `      // blankspot: list(string) attributes, from a JS array of strings.
      if (IsArray(env, nstatus, &js_value)) {
${ELEMENTS}
        std::unique_ptr<std::string[]> strings(new std::string[length]);
        std::unique_ptr<const void *[]> values(new const void *[length]);
        std::unique_ptr<size_t[]> lengths(new size_t[length]);
        for (uint32_t i = 0; i < length; ++i) {
${ELEMENT}
          nstatus = GetStringParam(env, element, strings[i]);
          ENSURE_NAPI_OK(env, nstatus);
          values[i] = strings[i].data();
          lengths[i] = strings[i].size();
        }
        TFE_OpSetAttrStringList(tfe_op, attr_name, values.get(), lengths.get(), static_cast<int>(length));
        break;
      }
`,
  },
  {
    at: '    case TF_ATTR_TYPE: {\n',
    insert: `      // blankspot: list(type) attributes, from a JS array of type codes.
      if (IsArray(env, nstatus, &js_value)) {
${ELEMENTS}
        std::unique_ptr<TF_DataType[]> types(new TF_DataType[length]);
        for (uint32_t i = 0; i < length; ++i) {
${ELEMENT}
          nstatus = napi_get_value_int32(env, element, reinterpret_cast<int32_t *>(&types[i]));
          ENSURE_NAPI_OK(env, nstatus);
        }
        TFE_OpSetAttrTypeList(tfe_op, attr_name, types.get(), static_cast<int>(length));
        break;
      }
`,
  },
];
let source = readFileSync(backendSource, 'utf8');
if (!source.includes('blankspot: list(')) {
  step('patching the binding: list(string) and list(type) op attributes');
  for (const { at, insert } of patches) {
    if (!source.includes(at)) fail(`${backendSource} has changed: no "${at.trim()}" case for the patch`);
    source = source.replace(at, at + insert);
  }
  writeFileSync(backendSource, source);
}
if (!napiVersion) fail(`unexpected binding path ${bindingPath}`);
const nodeGyp =
  process.env.npm_config_node_gyp ??
  join(execFileSync('npm', ['root', '-g'], { encoding: 'utf8' }).trim(), 'npm/node_modules/node-gyp/bin/node-gyp.js');
if (!existsSync(nodeGyp)) fail(`node-gyp not found at ${nodeGyp}`);
// Debian's nodejs puts node_api.h under /usr/include/node: build against it, offline.
const prefix = resolve(dirname(process.execPath), '..');
const nodedir = existsSync(join(prefix, 'include/node/node_api.h')) ? [`--nodedir=${prefix}`] : [];
step(`building the binding (napi v${napiVersion}) with ${nodeGyp}`);
run(
  process.execPath,
  [
    nodeGyp,
    'rebuild',
    ...nodedir,
    '--module_name=tfjs_binding',
    `--module_path=${dirname(bindingPath)}`,
    `--napi_build_version=${napiVersion}`,
  ],
  { cwd: tfjsNodeDir },
);
mkdirSync(dirname(bindingPath), { recursive: true });
copyFileSync(join(tfjsNodeDir, 'build/Release/tfjs_binding.node'), bindingPath);

// 5. Proof: the backend loads and computes.
const check = `
const tf = require('@tensorflow/tfjs-node');
const y = tf.matMul(tf.tensor2d([[1, 2], [3, 4]]), tf.tensor2d([[1], [1]])).dataSync();
if (tf.getBackend() !== 'tensorflow' || y[0] !== 3 || y[1] !== 7) throw new Error('wrong result ' + y);
console.log('@tensorflow/tfjs-node ' + tf.version['tfjs-node'] + ': matMul on the tensorflow backend is right');
`;
run(process.execPath, ['-e', check], { cwd: root, env: { ...process.env, TF_CPP_MIN_LOG_LEVEL: '2' } });
step('done: `blankspot train --backend tensorflow` (and --backend auto) now train on native TensorFlow');
