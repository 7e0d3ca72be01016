/*
 * dummy_sysmon.c - a stand-in for Sysmon's service, for the watchdog's
 * test under Wine (tests/cross/service-wine.sh): a service that does
 * nothing but run until it is stopped.  The SCM knows a service by the
 * name it was created with (sc create Sysmon64 binPath= ...), so this one
 * exe can stand for Sysmon64 or Sysmon; the name it registers under is
 * its first argument from the SCM's command line, Sysmon64 by default.
 *
 * Built by the test script with mingw-w64:
 *   x86_64-w64-mingw32-gcc -municode -o Sysmon64.exe dummy_sysmon.c
 * From a console it says what it is and exits 2.
 */
#define WIN32_LEAN_AND_MEAN
#include <windows.h>

#include <stdio.h>

static wchar_t name[256] = L"Sysmon64";
static SERVICE_STATUS_HANDLE status;
static HANDLE stop;

static void
report(DWORD state)
{
	SERVICE_STATUS ss = { 0 };

	ss.dwServiceType = SERVICE_WIN32_OWN_PROCESS;
	ss.dwCurrentState = state;
	ss.dwControlsAccepted = state == SERVICE_RUNNING ?
	    SERVICE_ACCEPT_STOP | SERVICE_ACCEPT_SHUTDOWN : 0;
	SetServiceStatus(status, &ss);
}

static DWORD WINAPI
on_control(DWORD control, DWORD type, void *data, void *ctx)
{
	(void)type;
	(void)data;
	(void)ctx;
	switch (control) {
	case SERVICE_CONTROL_STOP:
	case SERVICE_CONTROL_SHUTDOWN:
		SetEvent(stop);
		return NO_ERROR;
	case SERVICE_CONTROL_INTERROGATE:
		return NO_ERROR;
	default:
		return ERROR_CALL_NOT_IMPLEMENTED;
	}
}

static void WINAPI
service_main(DWORD argc, wchar_t **argv)
{
	(void)argc;
	(void)argv;
	if ((status = RegisterServiceCtrlHandlerExW(name, on_control,
	    NULL)) == NULL)
		return;
	report(SERVICE_RUNNING);
	WaitForSingleObject(stop, INFINITE);
	report(SERVICE_STOPPED);
}

int
wmain(int argc, wchar_t **argv)
{
	SERVICE_TABLE_ENTRYW table[] = { { name, service_main },
	    { NULL, NULL } };

	if (argc > 1 && wcslen(argv[1]) < sizeof(name) / sizeof(name[0]))
		wcscpy(name, argv[1]);
	if ((stop = CreateEventW(NULL, TRUE, FALSE, NULL)) == NULL)
		return 1;
	if (!StartServiceCtrlDispatcherW(table)) {
		fprintf(stderr, "dummy_sysmon: a stand-in for Sysmon's "
		    "service, to be run by the SCM (Windows error %lu)\n",
		    (unsigned long)GetLastError());
		return 2;
	}
	return 0;
}
