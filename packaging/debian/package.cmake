# package.cmake - the Debian package (issue 18), with CPack's DEB
# generator: `cmake --build BUILD --target package` gives
# BUILD/sysmonfwd_VERSION_ARCH.deb.
#
# CPack rather than a debian/ directory and dpkg-buildpackage: the package
# is made from the build the README already has (no second build from a
# clean source tree, no source package nobody uploads), CMake stays the
# one place that knows what is installed where, and the parts dpkg-
# buildpackage would bring are asked for explicitly here: dependencies
# from dpkg-shlibdeps, a stripped binary, md5sums, conffiles, root-owned
# files, gzip -9n man pages and changelog.  tests/package/deb-test.sh
# holds the result to lintian.
#
# Included at the end of the top-level CMakeLists.txt (Linux builds only).
# Configure with -DCMAKE_INSTALL_PREFIX=/usr so that the binary's
# compiled-in data directory is the packaged one (it also looks in
# /usr/share/sysmonfwd whatever the prefix).

set(_deb ${CMAKE_SOURCE_DIR}/packaging/debian)
set(_man ${CMAKE_SOURCE_DIR}/packaging/man)
set(_gen ${CMAKE_BINARY_DIR}/packaging)

# Resolve every symbol at start (BIND_NOW): with the default RELRO the
# whole GOT is then read-only, as Debian's hardening flags make it.
target_link_options(sysmonfwd PRIVATE "LINKER:-z,now")

# The packaged unit is packaging/sysmonfwd.service with the binary where
# the package puts it, and without the manual installation notes at its
# head (the package does those steps), and naming its man pages.  Regenerated when the unit changes.
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS
	${CMAKE_SOURCE_DIR}/packaging/sysmonfwd.service
	${_deb}/changelog)
file(READ ${CMAKE_SOURCE_DIR}/packaging/sysmonfwd.service _unit)
string(REGEX REPLACE "\n# Install:\n.*\n# Environment variables"
	"\n# Installed by the sysmonfwd package: the service runs as the\n# system user sysmonfwd, which the package creates.\n#\n# Environment variables"
	_unit "${_unit}")
string(REPLACE "/usr/local/sbin/" "/usr/sbin/" _unit "${_unit}")
string(REGEX REPLACE "\n(Description=[^\n]*\n)"
	"\n\\1Documentation=man:sysmonfwd(8) man:sysmonfwd.conf(5)\n"
	_unit "${_unit}")
if(_unit MATCHES "/usr/local")
	# tests/package/deb-test.sh fails on it; other builds go on.
	message(WARNING "packaging/sysmonfwd.service: a /usr/local path is "
		"left in the packaged unit; teach package.cmake about it")
endif()
file(WRITE ${_gen}/sysmonfwd.service "${_unit}")

# The changelog's newest entry must be this version: lintian and dpkg
# read it as the package's history.
file(STRINGS ${_deb}/changelog _top LIMIT_COUNT 1)
if(NOT _top MATCHES "^sysmonfwd \\(${PROJECT_VERSION}\\) ")
	message(WARNING "packaging/debian/changelog does not start with "
		"version ${PROJECT_VERSION}: add an entry before packaging")
endif()

# Man pages and the changelog compressed as Debian wants them: gzip -9,
# no name or time stamp inside (-n), so the same sources give the same
# bytes.
set(_gz)
foreach(_src ${_man}/sysmonfwd.8 ${_man}/sysmonfwd.conf.5 ${_deb}/changelog)
	get_filename_component(_name ${_src} NAME)
	add_custom_command(OUTPUT ${_gen}/${_name}.gz
		COMMAND gzip -9n -c ${_src} > ${_gen}/${_name}.gz
		DEPENDS ${_src} VERBATIM)
	list(APPEND _gz ${_gen}/${_name}.gz)
endforeach()
add_custom_target(sysmonfwd_package_docs ALL DEPENDS ${_gz})

install(FILES ${_gen}/sysmonfwd.8.gz DESTINATION share/man/man8)
install(FILES ${_gen}/sysmonfwd.conf.5.gz DESTINATION share/man/man5)
# The copyright file names the libraries the binary needs (deb-test.sh
# checks it against the binary).  It describes the default build, whose
# libcurl and libmicrohttpd are static (packaging/linux/build-deps.sh):
# lintian is told that the embedded curl is deliberate.  Built against the
# system's (SYSMONFWD_SYSTEM_CURL), the binary needs libcurl4 and
# libmicrohttpd12 instead of libssl3's libssl, and embeds neither.
if(SYSMONFWD_SYSTEM_CURL)
	set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS
		${_deb}/copyright)
	file(READ ${_deb}/copyright _copyright)
	string(REPLACE
		"  libssl.so.3        libssl3          Apache-2.0 (OpenSSL 3)\n"
		"  libcurl.so.4       libcurl4         curl (MIT-like)\n  libmicrohttpd.so.12 libmicrohttpd12 LGPL-2.1+\n"
		_copyright "${_copyright}")
	string(REGEX REPLACE
		"\n It also holds, linked statically,[^)]*\\)[^)]*\\)[^)]*\\)\\.\n \\.\n"
		"\n" _copyright "${_copyright}")
	string(REGEX REPLACE "\nLicense: curl\n.*$" "" _copyright
		"${_copyright}")
	file(WRITE ${_gen}/copyright "${_copyright}")
	install(FILES ${_gen}/copyright DESTINATION share/doc/sysmonfwd)
else()
	install(FILES ${_deb}/copyright DESTINATION share/doc/sysmonfwd)
	install(FILES ${_deb}/lintian-overrides
		DESTINATION share/lintian/overrides RENAME sysmonfwd)
endif()
install(FILES ${_gen}/changelog.gz DESTINATION share/doc/sysmonfwd)
install(FILES ${_gen}/sysmonfwd.service DESTINATION /lib/systemd/system)

# What a SIEM administrator needs from any installed host: the Wazuh
# manager's decoders and rules, the dashboards, the Sysmon configurations,
# the detection rules and the [filter]/[tag] rule files.  (The demo events
# are installed by the top-level CMakeLists.txt.)
foreach(_dir wazuh dashboards sysmon detections filters)
	install(DIRECTORY ${CMAKE_SOURCE_DIR}/packaging/${_dir}
		DESTINATION share/sysmonfwd USE_SOURCE_PERMISSIONS)
endforeach()

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME sysmonfwd)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_PACKAGE_CONTACT
	"sysmonfwd maintainers <maintainers@users.noreply.r-seed-15793cfa.example>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
	"forward Sysmon records to SIEMs, intact and accounted for")
# The extended description (CPack puts the summary before it and indents
# each line by one space).
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION
"sysmonfwd reads Sysmon records (Sysmon for Linux from the journal or
syslog files, Windows Sysmon from XML lines or .evtx files) into a
compressed, checksummed disk ring and delivers them to NDJSON files,
Splunk HEC, Elasticsearch or OpenSearch, and Wazuh (its API or the Wazuh
agent protocol), over verified TLS. Whatever cannot be delivered is
counted and reported to the SIEM as a gap document.
.
The package runs the agent as the system user sysmonfwd under a hardened
systemd unit, with a default configuration that writes the local Sysmon
records to /var/lib/sysmonfwd/events.ndjson until a SIEM is configured.")
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION admin)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
# Libraries: dpkg-shlibdeps reads the binary.  adduser: postinst.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# libsystemd0 and libevtx1 are opened at run time (agent/base/dynlib.c), so
# dpkg-shlibdeps does not see them: libsystemd0 for the default journald
# input and the watchdog (240: sd_bus_set_method_call_timeout), libevtx1
# only for an evtx input.
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser, libsystemd0 (>= 240)")
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "libevtx1")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
	${_deb}/conffiles ${_deb}/postinst ${_deb}/prerm ${_deb}/postrm)
# Maintainer scripts 0755, the other control files 0644.
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
# No package whose sysmonfwd.conf(5) misses a key of config/config.c.
set(CPACK_SYSMONFWD_SOURCE_DIR ${CMAKE_SOURCE_DIR})
set(CPACK_PRE_BUILD_SCRIPTS ${_deb}/check-docs.cmake)
include(CPack)
