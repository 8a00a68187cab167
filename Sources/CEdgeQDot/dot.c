// CEdgeQDot is header-only (include/CEdgeQDot.h); SwiftPM needs one source file in a C target.
#include "CEdgeQDot.h"
