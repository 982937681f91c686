#!/usr/bin/env node
/**
 * Extracts the first blocks of the MobileNetV2 inside the `nsfwjs` npm package (MIT) into
 * training/pretrained/mobilenet-v2-blocks.json, the pretrained stream of `localiser-128-objects`.
 *
 *   npm pack nsfwjs@4.4.0 && tar xzf nsfwjs-4.4.0.tgz
 *   node training/scripts/extract-mobilenet.mjs package
 *
 * Batch norm is folded into each conv (kernel * gamma / sqrt(var + eps), bias beta - mean * that), and
 * the first conv's three colour channels are summed into one: a grey image fed as R = G = B gives the
 * same first-layer output, so the greyscale model contract stays as it is.
 */
import { createRequire } from 'node:module';
import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs';

const BLOCKS = 6; // expanded_conv (block 0) to block_5: stride 8, 32 channels
const packageDir = resolve(process.argv[2] ?? 'package');
const out = resolve(process.argv[3] ?? new URL('../pretrained/mobilenet-v2-blocks.json', import.meta.url).pathname);
const require = createRequire(import.meta.url);
const models = `${packageDir}/dist/models/mobilenet_v2`;
const topology = require(`${models}/model.min.js`);
const shard = require(`${models}/group1-shard1of1.min.js`);
const pkg = require(`${packageDir}/package.json`);

const bytes = Buffer.from(shard, 'base64');
const weights = tf.io.decodeWeights(
  bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength),
  topology.weightsManifest[0].weights,
);
const layerConfigs = Object.fromEntries(topology.modelTopology.model_config.config.layers.map((l) => [l.config.name, l.config]));

/** A Keras conv (or depthwise conv) and its batch norm as one kernel (HWIO, or HWC1 for depthwise) and bias. */
function folded(conv, bn) {
  const depthwise = layerConfigs[conv].kernel_size && layerConfigs[conv].filters == null;
  const kernel = weights[`${conv}/${depthwise ? 'depthwise_kernel' : 'kernel'}`];
  const eps = layerConfigs[bn].epsilon;
  const [gamma, beta, mean, variance] = ['gamma', 'beta', 'moving_mean', 'moving_variance'].map((k) =>
    weights[`${bn}/${k}`].dataSync(),
  );
  const [kh, kw, ci, co] = kernel.shape;
  const outChannels = depthwise ? ci : co;
  const k = kernel.dataSync();
  const factor = Float32Array.from({ length: outChannels }, (_, c) => gamma[c] / Math.sqrt(variance[c] + eps));
  const w = new Float32Array(k.length);
  for (let i = 0; i < k.length; i++) w[i] = k[i] * factor[depthwise ? Math.floor(i / co) % ci : i % co];
  const b = Float32Array.from({ length: outChannels }, (_, c) => beta[c] - mean[c] * factor[c]);
  return { shape: [kh, kw, ci, co], kernel: w, bias: b, depthwise };
}

/** The first conv reads R = G = B: its three input channels summed into one. */
function greyFirst({ shape: [kh, kw, ci, co], kernel, bias, depthwise }) {
  const w = new Float32Array(kh * kw * co);
  for (let p = 0; p < kh * kw; p++)
    for (let i = 0; i < ci; i++) for (let o = 0; o < co; o++) w[p * co + o] += kernel[(p * ci + i) * co + o];
  return { shape: [kh, kw, 1, co], kernel: w, bias, depthwise };
}

const convs = [['Conv1', 'bn_Conv1', greyFirst]];
convs.push(['expanded_conv_depthwise', 'expanded_conv_depthwise_BN'], ['expanded_conv_project', 'expanded_conv_project_BN']);
for (let b = 1; b < BLOCKS; b++)
  for (const part of ['expand', 'depthwise', 'project']) convs.push([`block_${b}_${part}`, `block_${b}_${part}_BN`]);

const params = {};
for (const [conv, bn, adapt] of convs) {
  const f = (adapt ?? ((x) => x))(folded(conv, bn));
  params[`mobilenet/${conv}/kernel`] = { shape: f.shape, values: Buffer.from(f.kernel.buffer).toString('base64') };
  params[`mobilenet/${conv}/bias`] = { shape: [f.bias.length], values: Buffer.from(f.bias.buffer).toString('base64') };
}
const file = {
  source: `npm package nsfwjs ${pkg.version} (MIT, Copyright (c) 2019 Infinite Red, Inc.), dist/models/mobilenet_v2: Keras MobileNetV2 (alpha 1.0) started from ImageNet weights and fine-tuned by nsfwjs; weights stored as uint8`,
  layers: `Conv1 and blocks 0-${BLOCKS - 1} (expanded_conv to block_${BLOCKS - 1}), batch norm folded, first conv summed over RGB`,
  input: 'grey in [0, 1], as nsfwjs feeds RGB / 255',
  params,
};
writeFileSync(out, `${JSON.stringify(file, null, 1)}\n`);
console.log(`wrote ${out}: ${Object.keys(params).length} tensors`);
