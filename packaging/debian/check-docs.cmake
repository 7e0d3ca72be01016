# check-docs.cmake - run by CPack before it builds the package
# (CPACK_PRE_BUILD_SCRIPTS): sysmonfwd.conf(5) must document every key of
# config/config.c as it is now, or there is no package.
execute_process(
	COMMAND python3 ${CPACK_SYSMONFWD_SOURCE_DIR}/packaging/man/check-conf-man.py
		${CPACK_SYSMONFWD_SOURCE_DIR}
	RESULT_VARIABLE _rc)
if(NOT _rc EQUAL 0)
	message(FATAL_ERROR "packaging/man/sysmonfwd.conf.5 does not match "
		"config/config.c (see above): update the man page")
endif()
