/* CGateway is a header-only target: gateway.h is the interface. SwiftPM
 * needs one source file per C target. */
#include "gateway.h"
