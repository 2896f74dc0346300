/* json: writing JSON strings byte-exactly (DB-5).
 *
 * '"' and '\\' are escaped, bytes below 0x20 become \b \f \n \r \t or
 * \u00xx (lowercase hex: \u001f), and every other byte is copied as it is
 * (the kit does not check or change UTF-8). Pure functions of their input.
 */
#ifndef KIT_JSON_H
#define KIT_JSON_H

#include <stddef.h>

#include "buf.h"

/* Appends s[0..len) to out as a JSON string, quotes included.
 * Returns 0 or -ENOMEM. */
int json_append_string(struct buf *out, const char *s, size_t len);

#endif
