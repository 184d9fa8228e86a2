#ifndef GST_MMAP_SINK_H
#define GST_MMAP_SINK_H

#include <gst/base/gstbasesink.h>

G_BEGIN_DECLS
#define GST_TYPE_MMAP_SINK (gst_mmap_sink_get_type ())
G_DECLARE_FINAL_TYPE (GstMmapSink, gst_mmap_sink, GST, MMAP_SINK, GstBaseSink)
GST_ELEMENT_REGISTER_DECLARE (mmapsink);

G_END_DECLS
#endif
