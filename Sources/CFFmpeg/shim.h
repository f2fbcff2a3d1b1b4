#include <libavformat/avformat.h>
#include <libavcodec/avcodec.h>
#include <libswscale/swscale.h>
#include <libavutil/imgutils.h>
#include <libavutil/error.h>
#include <libavutil/log.h>
#include <errno.h>

// FFmpeg's error macros are not imported into Swift: expose them as functions.
static inline int cffmpeg_averror_eagain(void) { return AVERROR(EAGAIN); }
static inline int cffmpeg_averror_eof(void) { return AVERROR_EOF; }
static inline int cffmpeg_averror_invaliddata(void) { return AVERROR_INVALIDDATA; }

/// Writes FFmpeg's message for `err` into `buf` (at least AV_ERROR_MAX_STRING_SIZE bytes).
static inline void cffmpeg_strerror(int err, char *buf, size_t size) {
    av_strerror(err, buf, size);
}

/// Plane `i` (0...3) of a frame: AVFrame.data / linesize arrive in Swift as tuples.
static inline uint8_t *cffmpeg_frame_data(const AVFrame *f, int i) { return f->data[i]; }
static inline int cffmpeg_frame_linesize(const AVFrame *f, int i) { return f->linesize[i]; }

/// Silence FFmpeg's own console messages (errors are reported through VisionError).
static inline void cffmpeg_quiet(void) { av_log_set_level(AV_LOG_QUIET); }
static inline int AVERROR_DECODER_NOT_FOUND_value(void) { return AVERROR_DECODER_NOT_FOUND; }
