// libxml2 is built with ICU, and its encoding header then includes ICU's: a second copy of ICU's
// types beside Foundation's own (_FoundationICU), which the compiler refuses in any module that
// sees both. mcp-rag never touches libxml2's converters (all it parses is UTF-8), so the headers
// are read as if libxml2 had no ICU: only the converter record's tail, unused here, differs.
#include <libxml/xmlversion.h>
#undef LIBXML_ICU_ENABLED
#include <libxml/parser.h>
#include <libxml/HTMLparser.h>
#include <libxml/xmlreader.h>
#include <libxml/xmlerror.h>
#include <libxml/parserInternals.h>
