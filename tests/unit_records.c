/*
 * unit_records.c - the sample records of unit_records.h.
 */
#include <string.h>

#include "unit_records.h"

const char win_line[] =
    "<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'>"
    "<System><Provider Name='Microsoft-Windows-Sysmon' "
    "Guid='{5770385F-C22A-43E0-BF4C-06F5698FFBD9}'/><EventID>1</EventID>"
    "<Version>5</Version><Level>4</Level><Task>1</Task><Opcode>0</Opcode>"
    "<Keywords>0x8000000000000000</Keywords>"
    "<TimeCreated SystemTime='2019-04-30T20:26:51.793589000Z'/>"
    "<EventRecordID>9804</EventRecordID><Correlation/>"
    "<Execution ProcessID='1964' ThreadID='1664'/>"
    "<Channel>Microsoft-Windows-Sysmon/Operational</Channel>"
    "<Computer>IEWIN7</Computer><Security UserID='S-1-5-18'/></System>"
    "<EventData><Data Name='RuleName'></Data>"
    "<Data Name='Image'>C:\\Windows\\System32\\cmd.exe</Data>"
    "<Data Name='CommandLine'>cmd /c \"echo &lt;x&gt; &amp; a\tb&#10;c\"</Data>"
    "<Data Name='SourceImage'>&#10;</Data>"
    "<Data Name='Description'>\xC2\xAE \xEC\xA3\xBC\xEC\x8B\x9D</Data>"
    "<Data Name='User'>-</Data></EventData></Event>";

const char linux_line[] =
    "Oct 24 17:05:38 james-ubuntu-demo sysmon: <Event><System><Provider "
    "Name=\"Linux-Sysmon\" Guid=\"{ff032593-a8d3-4f13-b0d6-01fc615a0f97}\"/>"
    "<EventID>4</EventID><Version>3</Version><Level>4</Level><Task>4</Task>"
    "<Opcode>0</Opcode><Keywords>0x8000000000000000</Keywords>"
    "<TimeCreated SystemTime=\"2021-10-24T17:05:38.412656000Z\"/>"
    "<EventRecordID>1</EventRecordID><Correlation/><Execution "
    "ProcessID=\"3099\" ThreadID=\"3099\"/><Channel>Linux-Sysmon/Operational"
    "</Channel><Computer>james-ubuntu-demo</Computer><Security UserId=\"0\"/>"
    "</System><EventData><Data Name=\"UtcTime\">2021-10-24 17:05:38.412"
    "</Data><Data Name=\"State\">Started</Data></EventData></Event>\r";

const char *
data_value(const struct sysmon_event *ev, const char *name)
{
	for (size_t i = 0; i < ev->ndata; i++)
		if (strcmp(ev->data[i].name, name) == 0)
			return ev->data[i].value;
	return NULL;
}
