"""Realistic sidecars written by hand, the way darktable and Lightroom/Camera Raw write them."""

from __future__ import annotations

# darktable 4.x: no xpacket wrapper, XML declaration, attribute-form settings,
# darktable:history with operations (rdf:li in attribute form), masks history.
DARKTABLE = """<?xml version="1.0" encoding="UTF-8"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/" x:xmptk="XMP Core 4.4.0-Exiv2">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about=""
    xmlns:exif="http://ns.adobe.com/exif/1.0/"
    xmlns:xmp="http://ns.adobe.com/xap/1.0/"
    xmlns:xmpMM="http://ns.adobe.com/xap/1.0/mm/"
    xmlns:dc="http://purl.org/dc/elements/1.1/"
    xmlns:lr="http://ns.adobe.com/lightroom/1.0/"
    xmlns:darktable="http://darktable.sf.net/"
   exif:DateTimeOriginal="2023:06:14 18:22:05.000"
   xmp:Rating="3"
   xmpMM:DerivedFrom="IMG_1234.CR2"
   darktable:import_timestamp="63822003725617498"
   darktable:change_timestamp="63822004012803111"
   darktable:export_timestamp="-1"
   darktable:print_timestamp="-1"
   darktable:xmp_version="5"
   darktable:raw_params="0"
   darktable:auto_presets_applied="1"
   darktable:workflow="scene-referred (filmic)"
   darktable:history_end="4"
   darktable:iop_order_version="4"
   darktable:history_basic_hash="3a1f0e6b0d2c4b0f9a8e7d6c5b4a3f2e"
   darktable:history_auto_hash="9b8a7c6d5e4f3a2b1c0d9e8f7a6b5c4d"
   darktable:history_current_hash="0f1e2d3c4b5a69788796a5b4c3d2e1f0">
   <darktable:masks_history>
    <rdf:Seq/>
   </darktable:masks_history>
   <dc:subject>
    <rdf:Bag>
     <rdf:li>cat</rdf:li>
     <rdf:li>garden</rdf:li>
    </rdf:Bag>
   </dc:subject>
   <lr:hierarchicalSubject>
    <rdf:Bag>
     <rdf:li>Animals|cat</rdf:li>
     <rdf:li>Places|garden</rdf:li>
    </rdf:Bag>
   </lr:hierarchicalSubject>
   <darktable:history>
    <rdf:Seq>
     <rdf:li
      darktable:num="0"
      darktable:operation="rawprepare"
      darktable:enabled="1"
      darktable:modversion="2"
      darktable:params="000000000000000000000000000000000000000000000000800000000000000000000000000000003f0000803f0000803f0000803f"
      darktable:multi_name=""
      darktable:multi_name_hand_edited="0"
      darktable:multi_priority="0"
      darktable:blendop_version="13"
      darktable:blendop_params="gz08eJxjYGBgYAFiCQYYOOHEgBaA4QZ6ZQbUctsPsp4pDY54uMv2QPBMwAHg0EEI="/>
     <rdf:li
      darktable:num="1"
      darktable:operation="temperature"
      darktable:enabled="1"
      darktable:modversion="3"
      darktable:params="a4c4f13f0000803f5a5a1b400000c07f"
      darktable:multi_name=""
      darktable:multi_name_hand_edited="0"
      darktable:multi_priority="0"
      darktable:blendop_version="13"
      darktable:blendop_params="gz08eJxjYGBgYAFiCQYYOOHEgBaA4QZ6ZQbUctsPsp4pDY54uMv2QPBMwAHg0EEI="/>
     <rdf:li
      darktable:num="2"
      darktable:operation="exposure"
      darktable:enabled="1"
      darktable:modversion="6"
      darktable:params="00000000000080b90000003f00004842000080c0"
      darktable:multi_name="&lt;mask&gt; &amp; more"
      darktable:multi_name_hand_edited="1"
      darktable:multi_priority="0"
      darktable:blendop_version="13"
      darktable:blendop_params="gz08eJxjYGBgYAFiCQYYOOHEgBaA4QZ6ZQbUctsPsp4pDY54uMv2QPBMwAHg0EEI="/>
     <rdf:li
      darktable:num="3"
      darktable:operation="filmicrgb"
      darktable:enabled="1"
      darktable:modversion="6"
      darktable:params="gz04eJxjZGBgaGBgYGJgYGDIPXEpd8UjgRYgL2BgYGBg+M8ABxxQGhkfcAAA/YIGcw=="
      darktable:multi_name=""
      darktable:multi_name_hand_edited="0"
      darktable:multi_priority="0"
      darktable:blendop_version="13"
      darktable:blendop_params="gz08eJxjYGBgYAFiCQYYOOHEgBaA4QZ6ZQbUctsPsp4pDY54uMv2QPBMwAHg0EEI="/>
    </rdf:Seq>
   </darktable:history>
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>
"""

# Lightroom Classic / Camera Raw: xpacket wrapper with padding, attribute-form
# properties (rating, label, crs: settings), structured crs: values, xmpMM history,
# an unknown private namespace, and no keywords yet.
CAMERA_RAW = (
    '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n'
    """<x:xmpmeta xmlns:x="adobe:ns:meta/" x:xmptk="Adobe XMP Core 7.0-c000 1.000000, 0000/00/00-00:00:00        ">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about=""
    xmlns:xmp="http://ns.adobe.com/xap/1.0/"
    xmlns:tiff="http://ns.adobe.com/tiff/1.0/"
    xmlns:exif="http://ns.adobe.com/exif/1.0/"
    xmlns:aux="http://ns.adobe.com/exif/1.0/aux/"
    xmlns:photoshop="http://ns.adobe.com/photoshop/1.0/"
    xmlns:xmpMM="http://ns.adobe.com/xap/1.0/mm/"
    xmlns:stEvt="http://ns.adobe.com/xap/1.0/sType/ResourceEvent#"
    xmlns:crs="http://ns.adobe.com/camera-raw-settings/1.0/"
    xmlns:acme="http://example.com/acme/1.0/"
   xmp:ModifyDate="2023-06-15T10:11:12+02:00"
   xmp:CreateDate="2023-06-14T18:22:05.31"
   xmp:MetadataDate="2023-06-15T10:11:12+02:00"
   xmp:Rating="4"
   xmp:Label="Red"
   tiff:Make="Canon"
   tiff:Model="Canon EOS R6"
   tiff:Orientation="1"
   exif:ExposureTime="1/250"
   exif:FNumber="28/10"
   exif:ISOSpeedRatings="400"
   aux:Lens="RF24-105mm F4 L IS USM"
   photoshop:DateCreated="2023-06-14T18:22:05.31"
   xmpMM:DocumentID="xmp.did:1b0f5b4a-3c1e-4f2a-9d1e-5a3f0c2b7e11"
   xmpMM:OriginalDocumentID="5C6E1E6A8F3B2D1C0A9B8C7D6E5F4A3B"
   xmpMM:InstanceID="xmp.iid:1b0f5b4a-3c1e-4f2a-9d1e-5a3f0c2b7e11"
   crs:Version="15.3"
   crs:ProcessVersion="11.0"
   crs:WhiteBalance="As Shot"
   crs:Temperature="5450"
   crs:Tint="+8"
   crs:Exposure2012="+0.35"
   crs:Contrast2012="+12"
   crs:Highlights2012="-48"
   crs:Shadows2012="+31"
   crs:Texture="+10"
   crs:Clarity2012="+5"
   crs:LensProfileEnable="1"
   crs:HasSettings="True"
   crs:CameraProfile="Adobe Standard"
   acme:Flag="keep &amp; carry">
   <xmpMM:History>
    <rdf:Seq>
     <rdf:li
      stEvt:action="saved"
      stEvt:instanceID="xmp.iid:1b0f5b4a-3c1e-4f2a-9d1e-5a3f0c2b7e11"
      stEvt:when="2023-06-15T10:11:12+02:00"
      stEvt:softwareAgent="Adobe Photoshop Lightroom Classic 12.4 (Macintosh)"
      stEvt:changed="/metadata"/>
    </rdf:Seq>
   </xmpMM:History>
   <crs:ToneCurvePV2012>
    <rdf:Seq>
     <rdf:li>0, 0</rdf:li>
     <rdf:li>64, 58</rdf:li>
     <rdf:li>255, 255</rdf:li>
    </rdf:Seq>
   </crs:ToneCurvePV2012>
   <crs:Look>
    <rdf:Description
     crs:Name="Adobe Color"
     crs:Amount="1"
     crs:UUID="B952C231111CD8E0ECCF14B86BAA7077"
     crs:SupportsAmount="false">
    <crs:Group>
     <rdf:Alt>
      <rdf:li xml:lang="x-default">Profiles</rdf:li>
     </rdf:Alt>
    </crs:Group>
    </rdf:Description>
   </crs:Look>
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>
""" + (" " * 99 + "\n") * 20 + '<?xpacket end="w"?>'
)
