import requests

API_KEY = "YOUR_API_KEY"
API_BASE = "https://api.backgroundcut.co"
HEADERS = {"Authorization": f"Token {API_KEY}"}

# === YOUR SERVER: Mint a scoped access token ===
# The token is restricted to specific paths and expires after `expires_in` seconds.
token_response = requests.post(
    f"{API_BASE}/v3/auth/access-token/",
    headers={**HEADERS, "Content-Type": "application/json"},
    json={
        "paths": [
            "/v3/file-ops/upload/",
            "/v3/tools/ai/remove-bg/process/",
            "/v3/files/*"
        ],
        "expires_in": 600  # 10 minutes
    },
    timeout=10
).json()

access_token = token_response["access_token"]
# Returns: {"access_token": "eyJ..."}
# Send `access_token` to your client.
# The client uses it as "Authorization: AccessToken <token>"
# — your real API key is never exposed.
print(access_token)  # added: hands the token to the test, standing in for "send it to your client"
