/**
 * The core's preprocessing (alpha over white, Rec.601 luma, exact area average to the model's side,
 * 64x64 by default: see `preprocess` in @blankspot/core) computed on the GPU, straight from the decoded
 * bitmap. The CPU path reads every pixel back (48 MB for 12 MP) and averages it in JavaScript; here the
 * texture never leaves the GPU and only the input's floats come back. Each output pixel sums the source
 * pixels it covers, edge pixels weighted by the share they overlap: the same weights as the core's. Pixel
 * boundaries are exact in float32 because the scale is the image side divided by the input's. The browser
 * tests hold it to the API's input (core on sharp's decode) within 2/255.
 */
import { INPUT_SIZE } from '@blankspot/core';

const VERTEX = `#version 300 es
in vec2 position;
void main() { gl_Position = vec4(position, 0.0, 1.0); }`;

const FRAGMENT = `#version 300 es
precision highp float;
precision highp int;
uniform highp sampler2D image;
uniform ivec2 size;
uniform vec2 scale;
out vec4 result;
float grey(ivec2 p) {
  vec4 c = texelFetch(image, p, 0);
  float luma = dot(c.rgb, vec3(0.299, 0.587, 0.114));
  return c.a == 1.0 ? luma : luma * c.a + (1.0 - c.a);
}
void main() {
  ivec2 o = ivec2(gl_FragCoord.xy);
  float x0 = float(o.x) * scale.x;
  float x1 = x0 + scale.x;
  float y0 = float(o.y) * scale.y;
  float y1 = y0 + scale.y;
  int i0 = int(floor(x0));
  int i1 = min(int(ceil(x1)), size.x);
  int j0 = int(floor(y0));
  int j1 = min(int(ceil(y1)), size.y);
  float sum = 0.0;
  for (int j = j0; j < j1; j++) {
    float wy = min(y1, float(j + 1)) - max(y0, float(j));
    float row = 0.0;
    for (int i = i0; i < i1; i++) row += (min(x1, float(i + 1)) - max(x0, float(i))) * grey(ivec2(i, j));
    sum += wy * row;
  }
  result = vec4(sum / (scale.x * scale.y), 0.0, 0.0, 1.0);
}`;

function compile(gl: WebGL2RenderingContext, type: number, source: string): WebGLShader | null {
  const shader = gl.createShader(type);
  if (!shader) return null;
  gl.shaderSource(shader, source);
  gl.compileShader(shader);
  return gl.getShaderParameter(shader, gl.COMPILE_STATUS) ? shader : null;
}

/** The size x size model input from an upright bitmap, or null when this browser cannot (no WebGL2 float targets, too large). */
export function preprocessOnGpu(bitmap: ImageBitmap, size = INPUT_SIZE): Float32Array | null {
  const canvas = new OffscreenCanvas(size, size);
  const gl = canvas.getContext('webgl2', { premultipliedAlpha: false, antialias: false, depth: false, stencil: false });
  if (!gl) return null;
  const max = gl.getParameter(gl.MAX_TEXTURE_SIZE) as number;
  if (!gl.getExtension('EXT_color_buffer_float') || bitmap.width > max || bitmap.height > max) {
    gl.getExtension('WEBGL_lose_context')?.loseContext();
    return null;
  }
  const image = gl.createTexture();
  const target = gl.createTexture();
  const framebuffer = gl.createFramebuffer();
  const buffer = gl.createBuffer();
  const program = gl.createProgram();
  try {
    const vs = compile(gl, gl.VERTEX_SHADER, VERTEX);
    const fs = compile(gl, gl.FRAGMENT_SHADER, FRAGMENT);
    if (!vs || !fs || !program) return null;
    gl.attachShader(program, vs);
    gl.attachShader(program, fs);
    gl.linkProgram(program);
    if (!gl.getProgramParameter(program, gl.LINK_STATUS)) return null;
    gl.useProgram(program);

    // The photo, as decoded: no premultiplication, no colour conversion, row 0 = top row.
    gl.activeTexture(gl.TEXTURE0);
    gl.bindTexture(gl.TEXTURE_2D, image);
    gl.pixelStorei(gl.UNPACK_PREMULTIPLY_ALPHA_WEBGL, false);
    gl.pixelStorei(gl.UNPACK_COLORSPACE_CONVERSION_WEBGL, gl.NONE);
    gl.pixelStorei(gl.UNPACK_FLIP_Y_WEBGL, false);
    gl.texImage2D(gl.TEXTURE_2D, 0, gl.RGBA8, gl.RGBA, gl.UNSIGNED_BYTE, bitmap);
    gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MIN_FILTER, gl.NEAREST);
    gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MAG_FILTER, gl.NEAREST);

    // A size x size float target: framebuffer row 0 is output row 0, as readPixels returns it.
    gl.bindTexture(gl.TEXTURE_2D, target);
    gl.texStorage2D(gl.TEXTURE_2D, 1, gl.RGBA32F, size, size);
    gl.bindFramebuffer(gl.FRAMEBUFFER, framebuffer);
    gl.framebufferTexture2D(gl.FRAMEBUFFER, gl.COLOR_ATTACHMENT0, gl.TEXTURE_2D, target, 0);
    if (gl.checkFramebufferStatus(gl.FRAMEBUFFER) !== gl.FRAMEBUFFER_COMPLETE) return null;

    gl.bindBuffer(gl.ARRAY_BUFFER, buffer);
    gl.bufferData(gl.ARRAY_BUFFER, new Float32Array([-1, -1, 3, -1, -1, 3]), gl.STATIC_DRAW);
    const position = gl.getAttribLocation(program, 'position');
    gl.enableVertexAttribArray(position);
    gl.vertexAttribPointer(position, 2, gl.FLOAT, false, 0, 0);
    // Unit 0 must hold the photo again (binding the target above replaced it).
    gl.bindTexture(gl.TEXTURE_2D, image);
    gl.uniform1i(gl.getUniformLocation(program, 'image'), 0);
    gl.uniform2i(gl.getUniformLocation(program, 'size'), bitmap.width, bitmap.height);
    gl.uniform2f(gl.getUniformLocation(program, 'scale'), bitmap.width / size, bitmap.height / size);
    gl.viewport(0, 0, size, size);
    gl.drawArrays(gl.TRIANGLES, 0, 3);

    const rgba = new Float32Array(size * size * 4);
    gl.readPixels(0, 0, size, size, gl.RGBA, gl.FLOAT, rgba);
    if (gl.getError() !== gl.NO_ERROR) return null;
    const input = new Float32Array(size * size);
    for (let i = 0; i < input.length; i++) input[i] = rgba[i * 4];
    return input;
  } finally {
    gl.deleteProgram(program);
    gl.deleteBuffer(buffer);
    gl.deleteFramebuffer(framebuffer);
    gl.deleteTexture(target);
    gl.deleteTexture(image);
    gl.getExtension('WEBGL_lose_context')?.loseContext();
  }
}

let hardware: boolean | null = null;

/**
 * True when WebGL runs on a real GPU. A software renderer (SwiftShader, llvmpipe...) runs the
 * shader on the same CPU cores with emulation on top; measured in headless Chromium on SwiftShader,
 * a 12 MP photo took as long this way as read back and averaged in JavaScript (~340 ms both), so
 * there the plain CPU path is used.
 */
export function hardwareWebGl(): boolean {
  if (hardware != null) return hardware;
  const gl = new OffscreenCanvas(1, 1).getContext('webgl2');
  if (!gl) return (hardware = false);
  const info = gl.getExtension('WEBGL_debug_renderer_info');
  const renderer = String(gl.getParameter(info ? info.UNMASKED_RENDERER_WEBGL : gl.RENDERER));
  gl.getExtension('WEBGL_lose_context')?.loseContext();
  return (hardware = !/swiftshader|llvmpipe|softpipe|software|basic render/i.test(renderer));
}
