// The webcam: start, stop, and a downscaled JPEG snapshot of the current frame.
export class Camera {
  constructor() {
    this.stream = null;
    this.video = null;
    this.canvas = document.createElement("canvas");
  }

  get running() {
    return this.stream !== null;
  }

  async start(video) {
    if (!navigator.mediaDevices?.getUserMedia) throw new Error("getUserMedia is not available (HTTPS or localhost needed)");
    this.stream = await navigator.mediaDevices.getUserMedia({
      video: { width: { ideal: 1280 }, height: { ideal: 720 }, facingMode: "user" }, audio: false,
    });
    this.video = video;
    video.srcObject = this.stream;
    await video.play();
  }

  stop() {
    if (this.stream) this.stream.getTracks().forEach((track) => track.stop());
    this.stream = null;
    if (this.video) this.video.srcObject = null;
  }

  // The current frame as JPEG, at most maxSide pixels wide or high; null before the first frame.
  snapshot(maxSide = 640) {
    const video = this.video;
    if (!video || !video.videoWidth) return Promise.resolve(null);
    const scale = Math.min(1, maxSide / Math.max(video.videoWidth, video.videoHeight));
    this.canvas.width = Math.round(video.videoWidth * scale);
    this.canvas.height = Math.round(video.videoHeight * scale);
    this.canvas.getContext("2d").drawImage(video, 0, 0, this.canvas.width, this.canvas.height);
    return new Promise((resolve) => this.canvas.toBlob(resolve, "image/jpeg", 0.85));
  }
}
