//! The language server loop over `lsp-server`: the only code of sam3c that knows JSON-RPC. Documents are kept
//! in memory as the editor sends them; imports are read through the `SourceDb` the caller passes (the CLI passes
//! the filesystem).

use crate::engine;
use lsp_server::{Connection, ErrorCode, Message, Notification, Request, Response};
use lsp_types::notification::{
    DidChangeTextDocument, DidCloseTextDocument, DidOpenTextDocument, Notification as _,
    PublishDiagnostics,
};
use lsp_types::request::{Completion, Formatting, GotoDefinition, HoverRequest, Request as _};
use lsp_types::{
    CompletionItem, CompletionItemKind, CompletionResponse, Diagnostic,
    DiagnosticRelatedInformation, DiagnosticSeverity, GotoDefinitionResponse, Hover, HoverContents,
    HoverProviderCapability, Location, MarkupContent, MarkupKind, NumberOrString, OneOf, Position,
    PublishDiagnosticsParams, Range, ServerCapabilities, TextDocumentSyncCapability,
    TextDocumentSyncKind, TextEdit, Uri,
};
use sam3c_compiler::{Severity, SourceDb};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// Open documents over a base `SourceDb`: what the editor shows wins over what is on disk.
struct Overlay<'a> {
    base: &'a dyn SourceDb,
    open: &'a HashMap<PathBuf, String>,
}

impl SourceDb for Overlay<'_> {
    fn read_text(&self, path: &Path) -> Result<String, String> {
        match self.open.get(path) {
            Some(t) => Ok(t.clone()),
            None => self.base.read_text(path),
        }
    }
    fn exists(&self, path: &Path) -> bool {
        self.open.contains_key(path) || self.base.exists(path)
    }
}

pub fn capabilities() -> ServerCapabilities {
    ServerCapabilities {
        text_document_sync: Some(TextDocumentSyncCapability::Kind(TextDocumentSyncKind::FULL)),
        hover_provider: Some(HoverProviderCapability::Simple(true)),
        definition_provider: Some(OneOf::Left(true)),
        completion_provider: Some(lsp_types::CompletionOptions {
            trigger_characters: Some(vec![".".into(), "(".into(), "{".into()]),
            ..Default::default()
        }),
        document_formatting_provider: Some(OneOf::Left(true)),
        ..Default::default()
    }
}

/// Serve one client until it shuts down.
pub fn run(connection: &Connection, base: &dyn SourceDb) -> Result<(), String> {
    let caps = serde_json::to_value(capabilities()).map_err(|e| e.to_string())?;
    connection.initialize(caps).map_err(|e| e.to_string())?;
    let mut docs: HashMap<PathBuf, String> = HashMap::new();
    for msg in &connection.receiver {
        match msg {
            Message::Request(req) => {
                if connection
                    .handle_shutdown(&req)
                    .map_err(|e| e.to_string())?
                {
                    return Ok(());
                }
                let resp = handle_request(req, &docs, base);
                connection
                    .sender
                    .send(Message::Response(resp))
                    .map_err(|e| e.to_string())?;
            }
            Message::Notification(n) => {
                let changed = match n.method.as_str() {
                    DidOpenTextDocument::METHOD => {
                        let p: lsp_types::DidOpenTextDocumentParams = parse(n.params)?;
                        let path = uri_to_path(&p.text_document.uri);
                        docs.insert(path.clone(), p.text_document.text);
                        Some((p.text_document.uri, path))
                    }
                    DidChangeTextDocument::METHOD => {
                        let p: lsp_types::DidChangeTextDocumentParams = parse(n.params)?;
                        let path = uri_to_path(&p.text_document.uri);
                        // Full sync: the last change holds the whole text.
                        if let Some(c) = p.content_changes.into_iter().last() {
                            docs.insert(path.clone(), c.text);
                        }
                        Some((p.text_document.uri, path))
                    }
                    DidCloseTextDocument::METHOD => {
                        let p: lsp_types::DidCloseTextDocumentParams = parse(n.params)?;
                        docs.remove(&uri_to_path(&p.text_document.uri));
                        publish(connection, p.text_document.uri, Vec::new())?;
                        None
                    }
                    _ => None,
                };
                if let Some((uri, path)) = changed {
                    let text = docs[&path].clone();
                    let overlay = Overlay { base, open: &docs };
                    let diags = engine::diagnostics(&overlay, &path, &text)
                        .into_iter()
                        .map(|d| to_lsp_diagnostic(&text, d))
                        .collect();
                    publish(connection, uri, diags)?;
                }
            }
            Message::Response(_) => {}
        }
    }
    Ok(())
}

fn parse<T: serde::de::DeserializeOwned>(v: serde_json::Value) -> Result<T, String> {
    serde_json::from_value(v).map_err(|e| format!("bad notification: {e}"))
}

fn publish(connection: &Connection, uri: Uri, diagnostics: Vec<Diagnostic>) -> Result<(), String> {
    let params = PublishDiagnosticsParams {
        uri,
        diagnostics,
        version: None,
    };
    let n = Notification::new(PublishDiagnostics::METHOD.to_string(), params);
    connection
        .sender
        .send(Message::Notification(n))
        .map_err(|e| e.to_string())
}

fn handle_request(req: Request, docs: &HashMap<PathBuf, String>, base: &dyn SourceDb) -> Response {
    let id = req.id.clone();
    let result = match req.method.as_str() {
        HoverRequest::METHOD => {
            serde_json::from_value::<lsp_types::HoverParams>(req.params).map(|p| {
                let pos = p.text_document_position_params;
                let path = uri_to_path(&pos.text_document.uri);
                let text = docs.get(&path).cloned().unwrap_or_default();
                let offset = offset_of(&text, pos.position);
                let hover = engine::hover(&text, offset).map(|(span, md)| Hover {
                    contents: HoverContents::Markup(MarkupContent {
                        kind: MarkupKind::Markdown,
                        value: md,
                    }),
                    range: Some(range_of(&text, span)),
                });
                serde_json::to_value(hover).unwrap()
            })
        }
        GotoDefinition::METHOD => {
            serde_json::from_value::<lsp_types::GotoDefinitionParams>(req.params).map(|p| {
                let pos = p.text_document_position_params;
                let path = uri_to_path(&pos.text_document.uri);
                let text = docs.get(&path).cloned().unwrap_or_default();
                let offset = offset_of(&text, pos.position);
                let overlay = Overlay { base, open: docs };
                let loc = engine::definition(&overlay, &path, &text, offset).and_then(
                    |(target, span)| {
                        let target_text = overlay.read_text(&target).ok()?;
                        Some(GotoDefinitionResponse::Scalar(Location {
                            uri: path_to_uri(&target),
                            range: range_of(&target_text, span),
                        }))
                    },
                );
                serde_json::to_value(loc).unwrap()
            })
        }
        Completion::METHOD => serde_json::from_value::<lsp_types::CompletionParams>(req.params)
            .map(|p| {
                let pos = p.text_document_position;
                let path = uri_to_path(&pos.text_document.uri);
                let text = docs.get(&path).cloned().unwrap_or_default();
                let items: Vec<CompletionItem> =
                    engine::completions(&text, offset_of(&text, pos.position))
                        .into_iter()
                        .map(|c| CompletionItem {
                            kind: Some(if c.insert.ends_with("= ") {
                                CompletionItemKind::FIELD
                            } else {
                                CompletionItemKind::VALUE
                            }),
                            label: c.label,
                            detail: Some(c.detail),
                            insert_text: Some(c.insert),
                            ..Default::default()
                        })
                        .collect();
                serde_json::to_value(CompletionResponse::Array(items)).unwrap()
            }),
        Formatting::METHOD => {
            serde_json::from_value::<lsp_types::DocumentFormattingParams>(req.params).map(|p| {
                let path = uri_to_path(&p.text_document.uri);
                let text = docs.get(&path).cloned().unwrap_or_default();
                let edits: Option<Vec<TextEdit>> = engine::format(&text).map(|new_text| {
                    vec![TextEdit {
                        range: Range {
                            start: Position::new(0, 0),
                            end: end_position(&text),
                        },
                        new_text,
                    }]
                });
                serde_json::to_value(edits).unwrap()
            })
        }
        other => {
            return Response::new_err(
                id,
                ErrorCode::MethodNotFound as i32,
                format!("unsupported request `{other}`"),
            )
        }
    };
    match result {
        Ok(v) => Response::new_ok(id, v),
        Err(e) => Response::new_err(id, ErrorCode::InvalidParams as i32, e.to_string()),
    }
}

fn to_lsp_diagnostic(text: &str, d: engine::FileDiagnostic) -> Diagnostic {
    let related = d
        .related
        .into_iter()
        .map(
            |(path, span, file_text, message)| DiagnosticRelatedInformation {
                location: Location {
                    uri: path_to_uri(&path),
                    range: range_of(&file_text, span),
                },
                message,
            },
        )
        .collect::<Vec<_>>();
    Diagnostic {
        range: range_of(text, d.span),
        severity: Some(match d.severity {
            Severity::Error => DiagnosticSeverity::ERROR,
            Severity::Warning => DiagnosticSeverity::WARNING,
        }),
        code: Some(NumberOrString::String(d.code.to_string())),
        source: Some("sam3c".into()),
        message: d.message,
        related_information: if related.is_empty() {
            None
        } else {
            Some(related)
        },
        ..Default::default()
    }
}

/// `file:///a/b%20c.sam3x` → `/a/b c.sam3x` (other schemes: the text after the scheme).
pub fn uri_to_path(uri: &Uri) -> PathBuf {
    let s = uri.as_str();
    let raw = s.strip_prefix("file://").unwrap_or(s);
    let mut out = Vec::new();
    let bytes = raw.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Ok(b) = u8::from_str_radix(&raw[i + 1..i + 3], 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    sam3c_compiler::db::normalize(Path::new(&String::from_utf8_lossy(&out).into_owned()))
}

pub fn path_to_uri(path: &Path) -> Uri {
    let mut s = String::from("file://");
    let p = path.to_string_lossy();
    if !p.starts_with('/') {
        s.push('/');
    }
    for b in p.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'/' | b'-' | b'_' | b'.' | b'~' => {
                s.push(b as char)
            }
            _ => s.push_str(&format!("%{b:02X}")),
        }
    }
    Uri::from_str(&s).unwrap_or_else(|_| Uri::from_str("file:///").unwrap())
}

/// Byte offset of an LSP position (line, UTF-16 column).
pub fn offset_of(text: &str, pos: Position) -> usize {
    let mut offset = 0;
    for (i, line) in text.split_inclusive('\n').enumerate() {
        if i as u32 == pos.line {
            let mut units = 0u32;
            for (b, c) in line.char_indices() {
                if units >= pos.character || c == '\n' {
                    return offset + b;
                }
                units += c.len_utf16() as u32;
            }
            return offset + line.trim_end_matches('\n').len();
        }
        offset += line.len();
    }
    text.len()
}

fn position_of(text: &str, offset: usize) -> Position {
    let offset = offset.min(text.len());
    let before = &text[..offset];
    let line = before.matches('\n').count() as u32;
    let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
    let character = text[line_start..offset]
        .chars()
        .map(|c| c.len_utf16() as u32)
        .sum();
    Position::new(line, character)
}

fn range_of(text: &str, span: sam3c_lang::ast::Span) -> Range {
    Range {
        start: position_of(text, span.start as usize),
        end: position_of(text, span.end as usize),
    }
}

fn end_position(text: &str) -> Position {
    position_of(text, text.len())
}
