import requests

api_key = "YOUR_API_KEY"
image_path = "PATH_TO_IMAGE.jpg"

headers = {
    "X-Api-Key": api_key
}

# Assuming an endpoint for background removal
url = "https://api.objectcut.com/v1/remove-background"

with open(image_path, "rb") as f:
    files = {"image_file": (image_path, f, "image/jpeg")}
    response = requests.post(url, headers=headers, files=files)

if response.status_code == 200:
    # Save the processed image
    with open("output_image.png", "wb") as out_file:
        out_file.write(response.content)
    print("Image processed successfully!")
else:
    print(f"Error: {response.status_code} - {response.text}")
