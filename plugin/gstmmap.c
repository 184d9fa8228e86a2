#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <gst/gst.h>
#include "gstmmapsink.h"
#include "gstmmapsrc.h"

static gboolean
plugin_init (GstPlugin * plugin)
{
  gboolean ret = FALSE;

  ret |= GST_ELEMENT_REGISTER (mmapsink, plugin);
  ret |= GST_ELEMENT_REGISTER (mmapsrc, plugin);
  return ret;
}

GST_PLUGIN_DEFINE (GST_VERSION_MAJOR, GST_VERSION_MINOR, mmap,
    "Move buffers between processes through a memory-mapped file (gst-mmap "
    PACKAGE_VERSION ", file format 2, libmmapring)",
    plugin_init, VERSION, GST_LICENSE, GST_PACKAGE_NAME, GST_PACKAGE_ORIGIN)
