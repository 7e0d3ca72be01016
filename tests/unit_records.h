/*
 * unit_records.h - what the unit tests of records share (unit_records.c,
 * compiled into each): one Windows Sysmon record as EvtRender gives it,
 * one Sysmon for Linux syslog line, and reading a parsed record's data.
 */
#ifndef SYSMONFWD_UNIT_RECORDS_H
#define SYSMONFWD_UNIT_RECORDS_H

#include "event.h"

extern const char win_line[];
extern const char linux_line[];

/* The value of ev's first <Data Name='name'>, or NULL. */
const char *data_value(const struct sysmon_event *ev, const char *name);

#endif
