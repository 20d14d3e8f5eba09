import requests
import os

API_KEY = os.environ.get("SMART_IMAGE_ENHANCEMENT_API_KEY")
API_ENDPOINT = "https://api.smartimageenhancement.com/v1/enhance"

headers = {
    "x-api-key": API_KEY,
    "Content-Type": "application/json"
}

payload = {
    "imageUrl": "https://example.com/your_image_url.jpg",
    "enhancementType": "general", # e.g., 'general', 'portrait', 'landscape'
    "outputFormat": "png"
}

if API_KEY:
    try:
        response = requests.post(API_ENDPOINT, json=payload, headers=headers)
        response.raise_for_status() # Raise HTTPError for bad responses (4xx or 5xx)
        print("Image enhancement successful!")
        # Process the enhanced image data (e.g., save to file)
        with open("enhanced_image.png", "wb") as f:
            f.write(response.content)
        print("Enhanced image saved as enhanced_image.png")
    except requests.exceptions.RequestException as e:
        print(f"An error occurred: {e}")
        if response.status_code == 401:
            print("Authentication failed. Check your API key.")
        elif response.status_code == 400:
            print(f"Bad request: {response.json().get('detail', 'No detail provided')}")
else:
    print("API Key not found. Please set the 'SMART_IMAGE_ENHANCEMENT_API_KEY' environment variable.")
