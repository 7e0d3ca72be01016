/*
 * eventlog_util.h - pure helpers of the Windows event-log input: text
 * conversion, one-line XML, bookmark checks.
 *
 * source_eventlog.c (Windows only) reads records with EvtSubscribe and
 * EvtRender, which hand out UTF-16 XML, sometimes laid out over several
 * lines, and keeps its place with a bookmark whose XML is the checkpoint.
 * Everything here is plain C on byte strings, so it builds into the agent
 * on Linux too and the unit tests (tests/test_eventlog_util.c) cover it
 * there.  None of these functions logs or allocates except through the
 * strbuf it is given.
 */
#ifndef SYSMONFWD_EVENTLOG_UTIL_H
#define SYSMONFWD_EVENTLOG_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "source.h"

#define EVENTLOG_CHANNEL_MAX	255	/* as config.c allows for channel */

/*
 * Append to out the UTF-8 form of the UTF-16LE text in src (nbytes
 * bytes, any alignment).  A U+0000 unit ends the text (EvtRender counts
 * the terminating NUL in its size).  An unpaired surrogate, and an odd last
 * byte, become U+FFFD each; *nbad (may be NULL) is set to how many there
 * were.  Return 0, or -ENOBUFS when out reached its cap (out then holds a
 * cut but valid prefix), or -ENOMEM.
 */
int	eventlog_utf16le_to_utf8(const void *src, size_t nbytes,
	    struct strbuf *out, size_t *nbad)
	    __attribute__((warn_unused_result));

/*
 * Append to out the XML in xml (n bytes of UTF-8) on one line, meaning the
 * same to an XML parser (event_parse()):
 *   - layout is removed: a run of whitespace holding a CR, LF or tab
 *     between two pieces of markup (">\r\n  <"), and any whitespace
 *     before the first and after the last markup;
 *   - except when that run is the whole value of an element
 *     ("<Data Name='x'>\r\n</Data>"): a value is never changed;
 *   - a CR or LF inside a value or an attribute value becomes the
 *     character reference &#13; or &#10;, which the parser decodes back
 *     to the same character (a literal one would be normalised away);
 *   - a CR or LF between the attributes of a tag becomes a space, and
 *     one inside a CDATA section leaves the section for its reference.
 * Tabs inside values and every other byte are copied as they are.
 * Malformed XML is copied by the same rules (the parser will reject it
 * later).  Return 0, or -ENOBUFS when out reached its cap, or -ENOMEM.
 */
int	eventlog_xml_one_line(const char *xml, size_t n, struct strbuf *out)
	    __attribute__((warn_unused_result));

/*
 * The EventRecordID of a rendered event (the number between
 * <EventRecordID> and </EventRecordID>), or 0 when it has none.  Only for
 * messages: the record itself goes through event_parse().
 */
uint64_t eventlog_xml_record_id(const char *xml, size_t n);

/* What a bookmark says: the channel and record of its current entry. */
struct eventlog_bookmark {
	char		 channel[EVENTLOG_CHANNEL_MAX + 1];
	uint64_t	 record_id;
	size_t		 nentries;	/* <Bookmark> elements in the list */
};

/*
 * Check that xml (n bytes) is a bookmark as EvtRender(EvtRenderBookmark)
 * writes it:
 *   <BookmarkList>
 *     <Bookmark Channel='NAME' RecordId='N' IsCurrent='true'/>
 *   </BookmarkList>
 * (layout free, either quote, one or more entries, exactly one of them
 * current, nothing after the list but whitespace), and fill *bm from the
 * current entry.  Return 0, or -EINVAL with a plain sentence in err (err
 * may be NULL when errlen is 0).
 */
int	eventlog_bookmark_parse(const char *xml, size_t n,
	    struct eventlog_bookmark *bm, char *err, size_t errlen)
	    __attribute__((warn_unused_result));

/*
 * Of two saved bookmarks (the position file's and the ring's; either may
 * be NULL or ""), the one to resume from: a valid one whose channel is
 * channel (compared as Windows does, ignoring ASCII case), and of two such
 * the one further on (higher record id; the first on a tie).  Return a or
 * b, or NULL when neither qualifies.
 */
const char *eventlog_bookmark_choose(const char *a, const char *b,
	    const char *channel);

/* Channel names as Windows compares them: ASCII case ignored. */
bool	eventlog_channel_equal(const char *a, const char *b);


#endif
