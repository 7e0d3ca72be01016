/*
 * unit_records.h - sample records the event and render unit tests share
 * (unit_records.c, compiled into each): one Windows Sysmon record as
 * EvtRender gives it, one Sysmon for Linux syslog line.
 */
#ifndef SYSMONFWD_UNIT_RECORDS_H
#define SYSMONFWD_UNIT_RECORDS_H

extern const char win_line[];
extern const char linux_line[];

#endif
