// User selects a file. Your server provides a scoped access token.
// 1. Get the access token from your server
const { accessToken } = await fetch('/your-api/get-bgcut-token', {
  method: 'POST'
}).then(r => r.json());

const API_BASE = 'https://api.backgroundcut.co';
const AUTH = { 'Authorization': `AccessToken ${accessToken}` };

// 2. Upload image directly to BackgroundCut (no real API key on the client)
const uploadForm = new FormData();
uploadForm.append('files', fileInput.files[0]); // from <input type="file">
uploadForm.append('upload_path', 'my-project');

const upload = await fetch(`${API_BASE}/v3/file-ops/upload/`, {
  method: 'POST',
  headers: AUTH,
  body: uploadForm
}).then(r => r.json());
// upload.file_paths[0] → identifies the uploaded image

// 3. Process the image with the same token
const result = await fetch(`${API_BASE}/v3/tools/ai/remove-bg/process/`, {
  method: 'POST',
  headers: { ...AUTH, 'Content-Type': 'application/json' },
  body: JSON.stringify({
    input_file_path: upload.file_paths[0],
    output_variants: [{ output_file_path: 'my-project/result.png' }]
  })
}).then(r => r.json());
// result.output_file_paths[0] → path to the processed image
// Download it via GET /v3/files/{path} with the same access token
