/*
 * gp_reader.h - read a trace file record by record.
 *
 * Damage never crashes the reader: every problem becomes an error value with a message that
 * names what is wrong (the viewer adds the file name). A stream that simply stops (the
 * profiled process was killed) is not an error: gp_reader_next returns GP_READ_END and
 * gp_reader_cut_short() says the data ended mid-frame or mid-record.
 */
#ifndef GP_READER_H
#define GP_READER_H

#include <stddef.h>
#include <stdint.h>

struct gp_reader;

enum gp_read_status {
	GP_READ_RECORD = 1, /* a record was returned */
	GP_READ_END = 0,    /* no more records */
	GP_READ_ERROR = -1, /* see gp_reader_error() */
	GP_READ_BAD = 2,    /* gp_reader_next_rec: a record whose payload does not decode */
};

struct gp_record;

/*
 * Open the trace at `path` and check its magic and version.
 * @return a reader (to be freed with gp_reader_free) or NULL if out of memory; when opening
 * failed, the returned reader is in the error state: check gp_reader_error() first.
 */
struct gp_reader *gp_reader_open(const char *path);

/* Same, over a memory buffer (the fuzzer and unit tests); `data` must outlive the reader. */
struct gp_reader *gp_reader_open_mem(const void *data, size_t len);

/*
 * Next record: sets *tag, *payload (valid until the next call) and *len.
 * @return GP_READ_RECORD, GP_READ_END or GP_READ_ERROR.
 */
int gp_reader_next(struct gp_reader *r, unsigned *tag, const uint8_t **payload, size_t *len);

/*
 * Next record, decoded by gp_codec (chain ids and times made absolute): sets *rec (its
 * strings and frames valid until the next call). A tag the codec does not know comes back
 * as GP_READ_RECORD with only rec->tag set: skip it. Use either this or gp_reader_next on a
 * reader, not both (the deltas would go astray).
 * @return GP_READ_RECORD, GP_READ_BAD (rec->tag says which kind; the caller names it),
 * GP_READ_END or GP_READ_ERROR.
 */
int gp_reader_next_rec(struct gp_reader *r, struct gp_record *rec);

/* @return NULL if no error happened, else a one-line lowercase message without the file name. */
const char *gp_reader_error(const struct gp_reader *r);

/* @return nonzero if the stream ended in the middle of a zstd frame or of a record. */
int gp_reader_cut_short(const struct gp_reader *r);

/* @return the format version in the file's header (valid after a successful open). */
unsigned gp_reader_version(const struct gp_reader *r);

/* @return compressed bytes consumed so far and the file size (0 if unknown): for progress. */
uint64_t gp_reader_offset(const struct gp_reader *r);
uint64_t gp_reader_size(const struct gp_reader *r);

void gp_reader_free(struct gp_reader *r);

#endif
