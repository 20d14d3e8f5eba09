const fetch = require('node-fetch'); // or use axios

const API_KEY = process.env.SMART_IMAGE_ENHANCEMENT_API_KEY;
const API_ENDPOINT = "https://api.smartimageenhancement.com/v1/enhance";

if (!API_KEY) {
    console.error("API Key not found. Please set the 'SMART_IMAGE_ENHANCEMENT_API_KEY' environment variable.");
    process.exit(1);
}

async function enhanceImage() {
    try {
        const response = await fetch(API_ENDPOINT, {
            method: 'POST',
            headers: {
                'x-api-key': API_KEY,
                'Content-Type': 'application/json',
            },
            body: JSON.stringify({
                imageUrl: "https://example.com/your_image_url.jpg",
                enhancementType: "general",
                outputFormat: "png"
            }),
        });

        if (!response.ok) {
            const errorData = await response.json();
            if (response.status === 401) {
                throw new Error(`Authentication failed: ${errorData.detail || 'Check your API key.'}`);
            } else if (response.status === 400) {
                throw new Error(`Bad request: ${errorData.detail || 'No detail provided.'}`);
            } else {
                throw new Error(`HTTP error! status: ${response.status}, detail: ${errorData.detail || 'Unknown error'}`);
            }
        }

        const imageBuffer = await response.buffer();
        require('fs').writeFileSync('enhanced_image.png', imageBuffer);
        console.log("Image enhancement successful! Enhanced image saved as enhanced_image.png");

    } catch (error) {
        console.error(`An error occurred: ${error.message}`);
    }
}

enhanceImage();
