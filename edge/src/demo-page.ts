/** The page at `/`: an upload form that checks a photo with this API. */
export const DEMO_PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>blankspot: check a product photo</title>
<style>
  :root { color-scheme: light dark; font-family: system-ui, sans-serif; }
  body { max-width: 40rem; margin: 2rem auto; padding: 0 1rem; }
  output[hidden] { display: none; }
  output { display: block; margin-top: 1rem; padding: 1rem; border-radius: .5rem; border: 1px solid currentColor; }
  .flagged { color: #b00020; } .clean { color: #0a7d32; }
  img { max-width: 100%; margin-top: 1rem; }
</style>
</head>
<body>
<h1>Check a product photo</h1>
<p>blankspot looks for white rectangles left by bad retouching, erasing or compositing.</p>
<script type="module" src="/widget/blankspot.js"></script>
<form id="form">
  <label for="image">Photo (JPEG, PNG or WebP)</label><br>
  <!-- The widget checks the photo in the browser as soon as it is chosen; the server checks it again on upload. -->
  <blankspot-check models="/models/" mode="confirm">
    <input id="image" name="image" type="file" accept="image/jpeg,image/png,image/webp" required>
  </blankspot-check>
  <button type="submit">Upload</button>
</form>
<output id="verdict" aria-live="polite" hidden></output>
<img id="preview" alt="" hidden>
<script type="module">
  const form = document.getElementById('form');
  const out = document.getElementById('verdict');
  const preview = document.getElementById('preview');
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    if (!form.reportValidity()) return;
    const file = document.getElementById('image').files[0];
    if (!file) return;
    preview.src = URL.createObjectURL(file);
    preview.hidden = false;
    out.hidden = false;
    out.className = '';
    out.textContent = 'Uploading and checking on the server…';
    const body = new FormData();
    body.append('image', file);
    const res = await fetch('/v1/check', { method: 'POST', body });
    const json = await res.json();
    if (!res.ok) {
      out.textContent = 'Could not check this file: ' + json.error.message;
      return;
    }
    out.className = json.flagged ? 'flagged' : 'clean';
    out.textContent = 'Server: ' + (json.flagged ? 'a white rectangle was found' : 'no white rectangle found') +
      ' (score ' + json.score.toFixed(3) + ', model ' + json.model.name + ' ' + json.model.version + ').';
  });
</script>
</body>
</html>
`;
