/* Private helpers shared by the eval-*.c files. */
#ifndef CD_NLU_EVAL_INTERNAL_H
#define CD_NLU_EVAL_INTERNAL_H

#include "nlu/eval.h"
#include "util/strbuf.h"

/* Append s escaped for XML text and attribute values (& < > " '); characters XML 1.0
 * forbids (C0 controls other than tab, LF, CR) are dropped, LF/CR/tab in attributes kept
 * as character references so they survive attribute normalisation. */
int cd_xml_escape(cd_strbuf *sb, const char *s);
/* Like cd_xml_escape but cut to at most max code points, with "…" when cut. */
int cd_xml_escape_cut(cd_strbuf *sb, const char *s, size_t max);
/* Number of code points in s. */
size_t cd_utf8_len(const char *s);

#endif
