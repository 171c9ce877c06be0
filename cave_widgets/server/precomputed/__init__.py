"""The demo segmentation in neuroglancer's precomputed formats, for viewers that cannot read
the chunkedgraph (graphene) source: any neuroglancer, offline included.

- compressed_segmentation.py  the chunk encoding (per-block lookup tables of labels)
- volume.py                   scale levels, the demo geometry rasterised into supervoxel
                              labels per chunk, cached, and relabelled with root ids at a time
- meshes.py                   a root's surface as tubes and spheres (legacy mesh fragments)
- properties.py               segment properties: cell types of the roots at a time

Served by routes_seg_mirror.py at `precomputed://{server}/demo/seg`.
"""
