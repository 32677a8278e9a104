// Our own small live player: the emulator remuxes what a flow's hub carries into fragmented MP4
// (GET /_emulator/preview/{flow}/{role}/{name}.mp4: init segment, then moof+mdat fragments from a
// keyframe) and this feeds the bytes, as they arrive, to a Media Source Extensions SourceBuffer.
// It keeps close to the live edge (a stalled tab jumps forward) and drops what lies far behind.

import { call } from "./api.js";

const LIVE_EDGE_S = 3.0; // further behind the newest media than this: jump to it
const KEEP_BEHIND_S = 20.0; // buffered media older than this behind the playhead is removed

export class LivePlayer {
  /** `video`: a <video> element; `onStatus(text)`: a line for the user (errors included). */
  constructor(video, onStatus) {
    this.video = video;
    this.onStatus = onStatus || (() => {});
    this.abort = null;
    this.url = null;
  }

  get playing() {
    return this.abort !== null;
  }

  async play(path) {
    this.stop();
    const abort = new AbortController();
    this.abort = abort;
    this.onStatus("connecting...");
    let resp;
    try {
      resp = await call("GET", path, { signal: abort.signal });
    } catch (exc) {
      if (abort.signal.aborted) return;
      this.abort = null;
      this.onStatus(exc.text || String(exc));
      return;
    }
    const codecs = resp.headers.get("X-Codecs") || "avc1.64001f,mp4a.40.2";
    const mime = `video/mp4; codecs="${codecs}"`;
    if (!("MediaSource" in window) || !MediaSource.isTypeSupported(mime)) {
      this.onStatus(`this browser cannot play ${mime}`);
      abort.abort();
      this.abort = null;
      return;
    }
    const source = new MediaSource();
    this.url = URL.createObjectURL(source);
    this.video.src = this.url;
    await new Promise((resolve) => source.addEventListener("sourceopen", resolve, { once: true }));
    if (abort.signal.aborted) return;
    const buffer = source.addSourceBuffer(mime);
    const queue = [];
    const pump = () => {
      if (buffer.updating || !queue.length || source.readyState !== "open") return;
      try {
        buffer.appendBuffer(queue[0]);
        queue.shift();
      } catch (exc) {
        if (exc.name === "QuotaExceededError") this.trim(buffer, true);
        else this.onStatus(`preview: ${exc.message}`);
      }
    };
    buffer.addEventListener("updateend", () => {
      this.followLiveEdge(buffer);
      pump();
    });
    this.onStatus(`playing (${codecs})`);
    const reader = resp.body.getReader();
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        queue.push(value);
        pump();
      }
      this.onStatus("the stream ended");
    } catch (exc) {
      if (!abort.signal.aborted) this.onStatus(`preview: ${exc.message || exc}`);
    }
  }

  followLiveEdge(buffer) {
    const video = this.video;
    const ranges = buffer.buffered;
    if (!ranges.length) return;
    const start = ranges.start(0);
    const end = ranges.end(ranges.length - 1);
    if (video.currentTime < start || end - video.currentTime > LIVE_EDGE_S) {
      video.currentTime = Math.max(start, end - 0.5);
    }
    if (video.paused) video.play().catch(() => {});
    this.trim(buffer, false);
  }

  trim(buffer, hard) {
    const ranges = buffer.buffered;
    if (buffer.updating || !ranges.length) return;
    const cut = this.video.currentTime - (hard ? 2 : KEEP_BEHIND_S);
    if (ranges.start(0) < cut) buffer.remove(ranges.start(0), cut);
  }

  stop() {
    if (this.abort) this.abort.abort();
    this.abort = null;
    if (this.url) {
      this.video.removeAttribute("src");
      this.video.load();
      URL.revokeObjectURL(this.url);
      this.url = null;
    }
  }
}
