"""Folio's Gradio interface: gets ready core objects; never imports chromadb, torch, anthropic."""
