// The adforge advertiser dashboard: a single-page app over the /v1 API, no build step.
//
// Rules this file keeps:
// - Text that came from the server (names, generated copy, errors) only ever reaches the page
//   as a text node (see `h`): nothing here assigns innerHTML.
// - The page's Content-Security-Policy forbids inline scripts and styles, so there are no
//   event-handler attributes and no style attributes; styling is in style.css.
// - The API key lives in sessionStorage and is sent as `Authorization: Bearer <key>` on every
//   call; any 401 sends the user back to the sign-in page.
'use strict';

(() => {
  const KEY_STORAGE = 'adforge.apiKey';
  const TERMINAL = new Set(['succeeded', 'failed', 'cancelled', 'completed', 'done']);
  const OBJECTIVES = ['awareness', 'traffic', 'engagement', 'leads', 'sales'];
  const CAMPAIGN_STATUSES = ['draft', 'live', 'paused', 'archived'];
  const CREATIVE_STATUSES = ['draft', 'approved', 'rejected', 'archived'];
  const CAMPAIGN_TABS = [
    ['segments', 'Segments'],
    ['placements', 'Placements'],
    ['photos', 'Product photos'],
    ['generate', 'Generate'],
    ['gallery', 'Gallery'],
    ['stats', 'Performance'],
    ['settings', 'Settings'],
  ];
  const SAMPLE_RULES = '{"all": [\n  {"age": {"min": 18, "max": 34}},\n  {"country": ["FR", "BE"]}\n]}';

  const app = document.getElementById('app');
  const nav = document.getElementById('nav');
  const notice = document.getElementById('notice');

  // ---------------------------------------------------------------------------------------
  // DOM building. Strings become text nodes, never markup.

  /** Creates an HTML element; `props` are attributes, `on*` listeners, or a few properties. */
  function h(tag, props, ...children) {
    return build(document.createElement(tag), props, children);
  }

  /** Creates an SVG element, same conventions as `h`. */
  function svg(tag, props, ...children) {
    return build(document.createElementNS('http://www.w3.org/2000/svg', tag), props, children);
  }

  // Set as properties; everything else (checked and selected included, so that form.reset()
  // returns to them) is set as an attribute.
  const PROPERTIES = new Set(['value', 'disabled', 'hidden', 'required']);

  function build(el, props, children) {
    for (const [name, value] of Object.entries(props || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (name === 'class') el.setAttribute('class', value);
      else if (name.startsWith('on') && typeof value === 'function') el.addEventListener(name.slice(2), value);
      else if (PROPERTIES.has(name)) el[name] = value;
      else el.setAttribute(name, value === true ? '' : String(value));
    }
    append(el, children);
    return el;
  }

  /** Appends one child or a (nested) array of children. */
  function append(el, children) {
    for (const child of Array.isArray(children) ? children : [children]) {
      if (child === null || child === undefined || child === false) continue;
      if (Array.isArray(child)) append(el, child);
      else if (child instanceof Node) el.appendChild(child);
      else el.appendChild(document.createTextNode(String(child)));
    }
  }

  /** Replaces an element's children. */
  function fill(el, ...children) {
    el.replaceChildren();
    append(el, children);
    return el;
  }

  /** A labelled form control. */
  function field(label, control, hint) {
    return h('label', { class: 'field' }, h('span', { class: 'label' }, label), control,
      hint ? h('span', { class: 'hint' }, hint) : null);
  }

  function option(value, label, selected) {
    return h('option', { value, selected: Boolean(selected) }, label);
  }

  function badge(status) {
    return h('span', { class: `badge badge-${String(status).replace(/[^a-z_]/g, '')}` }, String(status));
  }

  function splitList(text, separator) {
    return text.split(separator).map((s) => s.trim()).filter((s) => s.length > 0);
  }

  function formatTime(iso) {
    const date = new Date(iso);
    return Number.isNaN(date.getTime()) ? String(iso || '') : date.toLocaleString();
  }

  function percent(ctr) {
    return `${(Number(ctr || 0) * 100).toFixed(2)} %`;
  }

  function flash(message) {
    fill(notice, message);
    notice.hidden = false;
    clearTimeout(flash.timer);
    flash.timer = setTimeout(() => { notice.hidden = true; }, 4000);
  }

  // ---------------------------------------------------------------------------------------
  // The API client.

  /** An `application/problem+json` answer (or a network failure) as an exception. */
  class ApiProblem extends Error {
    constructor(status, problem) {
      super(problem.detail || problem.title || `HTTP ${status}`);
      this.status = status;
      this.title = problem.title || '';
      this.detail = problem.detail || problem.title || `HTTP ${status}`;
      this.field = problem.field || null;
    }
  }

  function apiKey() {
    return sessionStorage.getItem(KEY_STORAGE);
  }

  async function problemFrom(response) {
    let body = {};
    try {
      body = await response.json();
    } catch (_) {
      body = { title: response.statusText };
    }
    return new ApiProblem(response.status, body && typeof body === 'object' ? body : {});
  }

  /**
   * Calls the API. `options.json` is sent as JSON, `options.body` as is; `options.raw` returns
   * the Response; `options.key` overrides the stored key (sign-in checks it this way).
   */
  async function api(method, path, options = {}) {
    const key = options.key || apiKey();
    const headers = { Authorization: `Bearer ${key}`, ...(options.headers || {}) };
    const init = { method, headers, signal: options.signal };
    if (options.json !== undefined) {
      headers['Content-Type'] = method === 'PATCH' ? 'application/merge-patch+json' : 'application/json';
      init.body = JSON.stringify(options.json);
    } else if (options.body !== undefined) {
      init.body = options.body;
    }
    let response;
    try {
      response = await fetch(path, init);
    } catch (error) {
      if (error.name === 'AbortError') throw error;
      throw new ApiProblem(0, { detail: `The server could not be reached (${error.message}).` });
    }
    if (response.status === 401 && !options.key) {
      signOut('Your key was not accepted any more; please sign in again.');
      throw new ApiProblem(401, { detail: 'Signed out.' });
    }
    if (!response.ok) throw await problemFrom(response);
    if (options.raw) return response;
    if (response.status === 204) return null;
    return response.json();
  }

  /** The items of a listing, whether the endpoint answers a page or a bare array. */
  function itemsOf(answer) {
    return Array.isArray(answer) ? answer : (answer && answer.items) || [];
  }

  /** Fetches every page of a collection (at most 1000 items). */
  async function listAll(path) {
    const items = [];
    const join = path.includes('?') ? '&' : '?';
    for (let offset = 0; offset < 1000; offset += 100) {
      const page = await api('GET', `${path}${join}limit=100&offset=${offset}`);
      const got = itemsOf(page);
      items.push(...got);
      if (Array.isArray(page) || got.length < 100 || items.length >= page.total) break;
    }
    return items;
  }

  /**
   * The JSON merge patch (RFC 7396) that turns `before` into `after`: keys that went away are
   * set to null, changed objects are patched recursively, anything else is replaced.
   */
  function mergePatchBetween(before, after) {
    const isObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);
    if (!isObject(before) || !isObject(after)) return after;
    const patch = {};
    for (const key of Object.keys(before)) if (!(key in after)) patch[key] = null;
    for (const [key, value] of Object.entries(after)) {
      if (JSON.stringify(before[key]) !== JSON.stringify(value)) patch[key] = mergePatchBetween(before[key], value);
    }
    return patch;
  }

  /** Shows an API problem next to a form: its detail and the field at fault. */
  function showProblem(box, error, form) {
    if (!box) return;
    const isProblem = error instanceof ApiProblem;
    const detail = isProblem ? error.detail : String(error.message || error);
    fill(box,
      h('strong', {}, isProblem && error.title ? `${error.title}: ` : 'Error: '),
      detail,
      isProblem && error.field ? h('span', { class: 'problem-field' }, ` (field: ${error.field})`) : null);
    box.hidden = false;
    if (form && isProblem && error.field) {
      const base = error.field.split(/[.[]/)[0];
      const control = form.elements.namedItem(error.field) || form.elements.namedItem(base);
      if (control && control.setAttribute) {
        control.setAttribute('aria-invalid', 'true');
        if (control.focus) control.focus();
      }
    }
  }

  function clearProblem(box, form) {
    if (box) {
      box.hidden = true;
      box.replaceChildren();
    }
    if (form) for (const el of form.querySelectorAll('[aria-invalid]')) el.removeAttribute('aria-invalid');
  }

  function problemBox() {
    return h('div', { class: 'problem', role: 'alert', hidden: true });
  }

  /** Downloads an authenticated resource through a blob URL. */
  async function download(path, filename) {
    const response = await api('GET', path, { raw: true });
    const url = URL.createObjectURL(await response.blob());
    const link = h('a', { href: url, download: filename, hidden: true });
    document.body.appendChild(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60000);
  }

  // ---------------------------------------------------------------------------------------
  // Routing. Each render gets a `view` whose `signal` aborts when the user navigates away.

  let currentView = null;

  const ROUTES = [
    [/^#\/signin$/, renderSignIn],
    [/^#\/campaigns$/, renderCampaigns],
    [/^#\/campaigns\/([^/]+)(?:\/([a-z]+))?$/, renderCampaign],
    [/^#\/brand-kits$/, renderBrandKits],
    [/^#\/brand-kits\/([^/]+)$/, renderBrandKit],
    [/^#\/batches$/, renderBatches],
  ];

  function go(hash) {
    if (location.hash === hash) route();
    else location.hash = hash;
  }

  async function route() {
    if (currentView) currentView.close();
    const controller = new AbortController();
    const blobUrls = [];
    const view = {
      signal: controller.signal,
      get alive() { return !controller.signal.aborted; },
      blobUrl(blob) {
        const url = URL.createObjectURL(blob);
        blobUrls.push(url);
        return url;
      },
      close() {
        controller.abort();
        for (const url of blobUrls) URL.revokeObjectURL(url);
      },
    };
    currentView = view;

    const hash = location.hash || '#/campaigns';
    if (!apiKey() && hash !== '#/signin') {
      sessionStorage.setItem('adforge.after', hash);
      go('#/signin');
      return;
    }
    nav.hidden = !apiKey();
    const section = hash.split('/')[1] || '';
    for (const link of nav.querySelectorAll('a')) {
      if (link.dataset.section === section) link.setAttribute('aria-current', 'page');
      else link.removeAttribute('aria-current');
    }
    for (const [pattern, render] of ROUTES) {
      const match = hash.match(pattern);
      if (match) {
        fill(app, h('p', { class: 'muted' }, 'Loading…'));
        try {
          await render(view, ...match.slice(1).map((p) => (p === undefined ? p : decodeURIComponent(p))));
        } catch (error) {
          if (error.name === 'AbortError' || !view.alive) return;
          if (error instanceof ApiProblem && error.status === 401) return;
          const box = problemBox();
          fill(app, h('h1', {}, 'Something went wrong'), box);
          showProblem(box, error);
        }
        return;
      }
    }
    fill(app, h('h1', {}, 'Not found'), h('p', {}, h('a', { href: '#/campaigns' }, 'Back to campaigns')));
  }

  function signOut(message) {
    sessionStorage.removeItem(KEY_STORAGE);
    nav.hidden = true;
    if (message) sessionStorage.setItem('adforge.signoutMessage', message);
    go('#/signin');
  }

  // ---------------------------------------------------------------------------------------
  // Sign in.

  async function renderSignIn() {
    nav.hidden = true;
    const box = problemBox();
    const input = h('input', { name: 'api_key', type: 'password', autocomplete: 'off', required: true, placeholder: 'adf_…', spellcheck: 'false' });
    const message = sessionStorage.getItem('adforge.signoutMessage');
    sessionStorage.removeItem('adforge.signoutMessage');
    const form = h('form', { class: 'card narrow', id: 'signin-form' },
      h('h1', {}, 'Sign in'),
      h('p', { class: 'muted' }, 'Use the API key printed by ', h('code', {}, 'adforge advertiser create'), '.'),
      message ? h('p', { class: 'problem' }, message) : null,
      field('API key', input),
      box,
      h('button', { type: 'submit' }, 'Sign in'));
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      clearProblem(box, form);
      const key = input.value.trim();
      try {
        await api('GET', '/v1/campaigns?limit=1', { key });
      } catch (error) {
        if (error.status === 401) error.detail = 'That API key was not accepted.';
        showProblem(box, error, form);
        return;
      }
      sessionStorage.setItem(KEY_STORAGE, key);
      const after = sessionStorage.getItem('adforge.after');
      sessionStorage.removeItem('adforge.after');
      go(after && after !== '#/signin' ? after : '#/campaigns');
    });
    fill(app, form);
    input.focus();
  }

  // ---------------------------------------------------------------------------------------
  // Campaigns.

  async function renderCampaigns(view) {
    const params = new URLSearchParams(sessionStorage.getItem('adforge.campaignFilter') || '');
    const search = h('input', { name: 'q', type: 'search', placeholder: 'Search by name', value: params.get('q') || '' });
    const status = h('select', { name: 'status' }, option('', 'Any status'),
      CAMPAIGN_STATUSES.map((s) => option(s, s, params.get('status') === s)));
    const tableBox = h('div', { class: 'table-wrap' });
    const kits = await listAll('/v1/brand-kits');

    async function load() {
      const query = new URLSearchParams({ limit: '100' });
      if (search.value.trim()) query.set('q', search.value.trim());
      if (status.value) query.set('status', status.value);
      sessionStorage.setItem('adforge.campaignFilter', query.toString());
      const page = await api('GET', `/v1/campaigns?${query}`, { signal: view.signal });
      const campaigns = itemsOf(page);
      if (campaigns.length === 0) {
        fill(tableBox, h('p', { class: 'muted' }, 'No campaigns yet. Create one below.'));
        return;
      }
      fill(tableBox, h('table', { class: 'list', id: 'campaign-list' },
        h('thead', {}, h('tr', {}, ['Name', 'Brand', 'Product', 'Objective', 'Status', 'Updated'].map((t) => h('th', {}, t)))),
        h('tbody', {}, campaigns.map((c) => h('tr', {},
          h('td', { 'data-label': 'Name' }, h('a', { href: `#/campaigns/${encodeURIComponent(c.id)}`, class: 'campaign-name' }, c.name)),
          h('td', { 'data-label': 'Brand' }, c.brand),
          h('td', { 'data-label': 'Product' }, c.product),
          h('td', { 'data-label': 'Objective' }, c.objective),
          h('td', { 'data-label': 'Status' }, badge(c.status)),
          h('td', { 'data-label': 'Updated' }, formatTime(c.updated_at)))))),
      page.total > campaigns.length ? h('p', { class: 'muted' }, `Showing ${campaigns.length} of ${page.total}; refine the search to see others.`) : null);
    }

    const filters = h('form', { class: 'filters' }, search, status, h('button', { type: 'submit', class: 'secondary' }, 'Filter'));
    filters.addEventListener('submit', (event) => { event.preventDefault(); load().catch(() => {}); });
    status.addEventListener('change', () => load().catch(() => {}));

    const createForm = campaignForm(null, kits, (campaign) => go(`#/campaigns/${encodeURIComponent(campaign.id)}`));
    fill(app,
      h('h1', {}, 'Campaigns'),
      filters,
      tableBox,
      h('details', { class: 'card', id: 'new-campaign', open: true }, h('summary', {}, 'New campaign'), createForm));
    await load();
  }

  /** The create/edit form for a campaign (every CampaignInput field). */
  function campaignForm(campaign, kits, onSaved) {
    const c = campaign || {};
    const box = problemBox();
    const text = (name, value, extra = {}) => h('input', { name, value: value || '', ...extra });
    const form = h('form', { class: 'form-grid', id: campaign ? 'campaign-edit-form' : 'campaign-form' },
      field('Name', text('name', c.name, { required: true, maxlength: 200 })),
      field('Brand', text('brand', c.brand, { required: true, maxlength: 200 })),
      field('Product', text('product', c.product, { required: true, maxlength: 200 })),
      field('Landing URL', text('landing_url', c.landing_url, { type: 'url', required: true, placeholder: 'https://example.com/' })),
      field('Description', h('textarea', { name: 'description', rows: 3, value: c.description || '' }), 'What the product is and why it matters.'),
      field('Offer', text('offer', c.offer, { placeholder: '20% off the first month' })),
      field('Call to action', text('call_to_action', c.call_to_action, { maxlength: 40, placeholder: 'Book a test ride' }),
        'Optional. Used where it fits the placement; otherwise a standard label in the copy language.'),
      field('Objective', h('select', { name: 'objective' }, OBJECTIVES.map((o) => option(o, o, (c.objective || 'awareness') === o)))),
      field('Tone', text('tone', c.tone, { placeholder: 'playful, formal…' })),
      field('Languages', text('languages', (c.languages || ['en']).join(', ')), 'Comma-separated tags such as en, fr, pt-BR.'),
      field('Status', h('select', { name: 'status' }, CAMPAIGN_STATUSES.map((s) => option(s, s, (c.status || 'draft') === s)))),
      field('Brand kit', h('select', { name: 'brand_kit_id' }, option('', 'None'),
        kits.map((k) => option(k.id, k.name, c.brand_kit_id === k.id)))),
      h('label', { class: 'check' }, h('input', { type: 'checkbox', name: 'allow_claims', checked: Boolean(c.allow_claims) }),
        ' The advertiser can substantiate superlatives and guarantees'),
      h('label', { class: 'check' }, h('input', { type: 'checkbox', name: 'auto_approve', checked: Boolean(c.auto_approve) }),
        ' Approve creatives that pass every rule automatically'),
      box,
      h('div', { class: 'actions' }, h('button', { type: 'submit' }, campaign ? 'Save changes' : 'Create campaign')));
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      clearProblem(box, form);
      const get = (name) => form.elements.namedItem(name);
      const optional = (name) => get(name).value.trim() || null;
      const body = {
        name: get('name').value,
        brand: get('brand').value,
        product: get('product').value,
        landing_url: get('landing_url').value.trim(),
        description: get('description').value,
        offer: optional('offer'),
        call_to_action: optional('call_to_action'),
        objective: get('objective').value,
        tone: optional('tone'),
        languages: splitList(get('languages').value, /[,\s]+/),
        status: get('status').value,
        allow_claims: get('allow_claims').checked,
        auto_approve: get('auto_approve').checked,
        brand_kit_id: optional('brand_kit_id'),
      };
      try {
        let saved;
        if (campaign) {
          saved = await api('PATCH', `/v1/campaigns/${encodeURIComponent(campaign.id)}`, { json: body });
        } else {
          for (const key of ['offer', 'call_to_action', 'tone', 'brand_kit_id']) if (body[key] === null) delete body[key];
          saved = await api('POST', '/v1/campaigns', { json: body });
        }
        flash(campaign ? 'Campaign saved.' : 'Campaign created.');
        onSaved(saved);
      } catch (error) {
        showProblem(box, error, form);
      }
    });
    return form;
  }

  async function renderCampaign(view, id, tab) {
    const active = CAMPAIGN_TABS.some(([key]) => key === tab) ? tab : 'segments';
    const campaign = await api('GET', `/v1/campaigns/${encodeURIComponent(id)}`, { signal: view.signal });
    const base = `#/campaigns/${encodeURIComponent(id)}`;
    const panel = h('section', { class: 'tab-panel', id: `tab-${active}` });
    fill(app,
      h('p', { class: 'crumbs' }, h('a', { href: '#/campaigns' }, 'Campaigns'), ' / '),
      h('div', { class: 'title-row' }, h('h1', { id: 'campaign-title' }, campaign.name), badge(campaign.status)),
      h('p', { class: 'muted' }, `${campaign.brand} · ${campaign.product}`),
      h('nav', { class: 'tabs', 'aria-label': 'Campaign' }, CAMPAIGN_TABS.map(([key, label]) => h('a', {
        href: `${base}/${key}`, 'aria-current': key === active ? 'page' : null,
      }, label))),
      panel);
    const renderTab = {
      segments: renderSegments,
      placements: renderPlacements,
      photos: renderPhotos,
      generate: renderGenerate,
      gallery: renderGallery,
      stats: renderStats,
      settings: renderSettings,
    }[active];
    await renderTab(view, campaign, panel);
  }

  async function renderSettings(view, campaign, panel) {
    const kits = await listAll('/v1/brand-kits');
    const form = campaignForm(campaign, kits, () => route());
    const remove = h('button', { type: 'button', class: 'danger' }, 'Delete campaign');
    const box = problemBox();
    remove.addEventListener('click', async () => {
      if (remove.dataset.armed !== 'yes') {
        remove.dataset.armed = 'yes';
        remove.textContent = 'Click again to delete it and all its creatives';
        return;
      }
      try {
        await api('DELETE', `/v1/campaigns/${encodeURIComponent(campaign.id)}`);
        flash('Campaign deleted.');
        go('#/campaigns');
      } catch (error) {
        showProblem(box, error);
      }
    });
    fill(panel, h('h2', {}, 'Settings'), form, h('div', { class: 'card danger-zone' }, remove, box));
  }

  // ---------------------------------------------------------------------------------------
  // Product photos.

  /** The campaign's product photos: upload, preview (in the order generation uses them), delete. */
  async function renderPhotos(view, campaign, panel) {
    const path = `/v1/campaigns/${encodeURIComponent(campaign.id)}/images`;
    const answer = await api('GET', path, { signal: view.signal });
    const photos = itemsOf(answer);
    const grid = h('div', { class: 'photo-grid', id: 'photo-list' });
    const box = problemBox();
    const file = h('input', { type: 'file', name: 'image', accept: 'image/png,image/jpeg,image/webp' });
    const upload = h('form', { class: 'form-grid', id: 'photo-form' },
      field('Product photo (PNG, JPEG or WebP)', file,
        'A packshot on a plain background works best: the background is removed and the product set into every ad size. Transparent PNGs keep their own cut-out.'),
      box,
      h('div', { class: 'actions' }, h('button', { type: 'submit' }, 'Upload photo')));

    upload.addEventListener('submit', async (event) => {
      event.preventDefault();
      clearProblem(box, upload);
      const chosen = file.files && file.files[0];
      if (!chosen) {
        showProblem(box, new ApiProblem(422, { detail: 'Choose an image file first.', field: 'image' }), upload);
        return;
      }
      const data = new FormData();
      data.append('image', chosen, chosen.name);
      try {
        await api('POST', path, { body: data });
        flash('Photo uploaded.');
        route();
      } catch (error) {
        showProblem(box, error, upload);
      }
    });

    if (photos.length === 0) {
      append(grid, h('p', { class: 'muted' }, 'No product photos yet. Creatives show the copy over a designed background until you add one.'));
    }
    photos.forEach((photo, index) => {
      const preview = h('div', { class: 'photo-preview' });
      const remove = h('button', { type: 'button', class: 'danger' }, 'Delete');
      const itemBox = problemBox();
      remove.addEventListener('click', async () => {
        try {
          await api('DELETE', `${path}/${encodeURIComponent(photo.id)}`);
          flash('Photo deleted.');
          route();
        } catch (error) {
          showProblem(itemBox, error);
        }
      });
      const use = photos.length > 1
        ? `Variant ${index + 1}, ${index + 1 + photos.length}, … show it.`
        : 'Every variant shows it.';
      append(grid, h('figure', { class: 'card photo', 'data-photo': photo.id },
        preview,
        h('figcaption', {},
          h('strong', {}, photo.file_name),
          h('span', { class: 'muted' }, ` ${photo.width}×${photo.height}`),
          h('p', { class: 'hint' }, use),
          h('div', { class: 'actions' }, remove), itemBox)));
      api('GET', `${path}/${encodeURIComponent(photo.id)}`, { raw: true, signal: view.signal })
        .then(async (response) => {
          const url = view.blobUrl(await response.blob());
          fill(preview, h('img', { src: url, alt: `Product photo ${photo.file_name}`, class: 'logo' }));
        })
        .catch((error) => {
          if (error.name !== 'AbortError') fill(preview, h('p', { class: 'problem' }, 'The preview could not be loaded.'));
        });
    });

    fill(panel, h('h2', {}, 'Product photos'), grid,
      h('div', { class: 'card' }, h('h3', {}, 'Add a photo'), upload));
  }

  // ---------------------------------------------------------------------------------------
  // Segments.

  async function renderSegments(view, campaign, panel) {
    const segments = await listAll(`/v1/segments?campaign_id=${encodeURIComponent(campaign.id)}`);
    const list = h('div', { class: 'stack', id: 'segment-list' });
    if (segments.length === 0) append(list, h('p', { class: 'muted' }, 'No segments yet.'));
    for (const segment of segments) {
      const editor = h('div', { hidden: true });
      const edit = h('button', { type: 'button', class: 'secondary' }, 'Edit');
      edit.addEventListener('click', () => {
        editor.hidden = !editor.hidden;
        if (!editor.hidden && !editor.firstChild) append(editor, segmentForm(campaign, segment, () => route()));
      });
      const remove = h('button', { type: 'button', class: 'secondary' }, 'Delete');
      remove.addEventListener('click', async () => {
        try {
          await api('DELETE', `/v1/segments/${encodeURIComponent(segment.id)}`);
          route();
        } catch (error) {
          flash(error.detail || error.message);
        }
      });
      append(list, h('article', { class: 'card segment' },
        h('div', { class: 'title-row' }, h('h3', {}, segment.name), h('span', { class: 'tag' }, segment.language)),
        segment.persona ? h('p', {}, segment.persona) : null,
        h('pre', { class: 'rules' }, JSON.stringify(segment.rules, null, 2)),
        h('div', { class: 'actions' }, edit, remove),
        editor));
    }
    fill(panel,
      h('h2', {}, 'Segments'),
      list,
      h('div', { class: 'card' }, h('h3', {}, 'New segment'), segmentForm(campaign, null, () => route())));
  }

  /** The create/edit form for a segment; the server validates the rules. */
  function segmentForm(campaign, segment, onSaved) {
    const s = segment || {};
    const box = problemBox();
    const rules = h('textarea', {
      name: 'rules', rows: 6, spellcheck: 'false', class: 'code',
      value: segment ? JSON.stringify(s.rules, null, 2) : SAMPLE_RULES,
    });
    const form = h('form', { class: 'form-grid segment-form' },
      field('Name', h('input', { name: 'name', required: true, maxlength: 200, value: s.name || '' })),
      field('Language', h('input', { name: 'language', value: s.language || 'en', placeholder: 'en' })),
      field('Persona', h('textarea', { name: 'persona', rows: 2, value: s.persona || '' }), 'Who these people are, in words; it steers the copy.'),
      field('Rules (JSON)', rules, 'all / any / not over age, gender, country, region, city, language, device, os, interests, keywords… {} matches everyone.'),
      box,
      h('div', { class: 'actions' }, h('button', { type: 'submit' }, segment ? 'Save segment' : 'Add segment')));
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      clearProblem(box, form);
      let parsed;
      try {
        parsed = rules.value.trim() ? JSON.parse(rules.value) : {};
      } catch (error) {
        showProblem(box, new ApiProblem(422, { title: 'Invalid JSON', detail: error.message, field: 'rules' }), form);
        return;
      }
      const body = {
        name: form.elements.namedItem('name').value,
        language: form.elements.namedItem('language').value.trim(),
        persona: form.elements.namedItem('persona').value,
        rules: parsed,
      };
      try {
        if (segment) {
          // A merge patch merges objects, so send the patch that turns the old rules into the new.
          const patch = { ...body, rules: mergePatchBetween(segment.rules, parsed) };
          await api('PATCH', `/v1/segments/${encodeURIComponent(segment.id)}`, { json: patch });
        } else {
          await api('POST', '/v1/segments', { json: { campaign_id: campaign.id, ...body } });
        }
        flash(segment ? 'Segment saved.' : 'Segment added.');
        onSaved();
      } catch (error) {
        if (error.field && !form.elements.namedItem(error.field.split(/[.[]/)[0])) {
          // The server names a path inside the rules; point at the rules box.
          error.field = `rules: ${error.field}`;
          rules.setAttribute('aria-invalid', 'true');
        }
        showProblem(box, error, form);
      }
    });
    return form;
  }

  // ---------------------------------------------------------------------------------------
  // Placements.

  async function renderPlacements(view, campaign, panel) {
    const [placements, presetAnswer] = await Promise.all([
      listAll(`/v1/placements?campaign_id=${encodeURIComponent(campaign.id)}`),
      api('GET', '/v1/placement-presets', { signal: view.signal }),
    ]);
    const presets = itemsOf(presetAnswer);
    const list = h('div', { class: 'table-wrap' });
    if (placements.length === 0) {
      append(list, h('p', { class: 'muted' }, 'No placements yet.'));
    } else {
      append(list, h('table', { class: 'list', id: 'placement-list' },
        h('thead', {}, h('tr', {}, ['Name', 'Preset', 'Platform', 'Sizes', 'Limits', ''].map((t) => h('th', {}, t)))),
        h('tbody', {}, placements.map((p) => {
          const remove = h('button', { type: 'button', class: 'secondary small' }, 'Delete');
          remove.addEventListener('click', async () => {
            try {
              await api('DELETE', `/v1/placements/${encodeURIComponent(p.id)}`);
              route();
            } catch (error) {
              flash(error.detail || error.message);
            }
          });
          const limits = p.text_limits || {};
          const keyBox = h('code', { class: 'serve-key' });
          const rotate = h('button', { type: 'button', class: 'secondary small', 'data-action': 'serve-key' }, 'New serve key');
          rotate.addEventListener('click', async () => {
            try {
              const answer = await api('POST', `/v1/placements/${encodeURIComponent(p.id)}/serve-key`);
              fill(keyBox, answer.serve_key);
              rotate.textContent = 'Rotate serve key';
              flash('New serve key made; the previous one no longer works.');
            } catch (error) {
              flash(error.detail || error.message);
            }
          });
          return h('tr', { 'data-placement': p.id },
            h('td', { 'data-label': 'Name' }, p.name),
            h('td', { 'data-label': 'Preset' }, p.preset),
            h('td', { 'data-label': 'Platform' }, `${p.platform || ''} ${p.format || ''}`),
            h('td', { 'data-label': 'Sizes' }, (p.image_sizes || []).join(', ') || 'text only'),
            h('td', { 'data-label': 'Limits' }, `headline ${limits.headline}, body ${limits.body}, CTA ${limits.cta}`),
            h('td', {}, h('div', { class: 'actions' }, rotate, remove), keyBox));
        }))));
    }

    const box = problemBox();
    const presetSelect = h('select', { name: 'preset' }, presets.map((p) => option(p.key, `${p.key} (${p.platform} ${p.format})`)));
    const presetInfo = h('p', { class: 'hint' });
    const showPreset = () => {
      const p = presets.find((x) => x.key === presetSelect.value);
      fill(presetInfo, p ? `Sizes: ${p.image_sizes.join(', ') || 'text only'}. Limits: headline ${p.text_limits.headline}, body ${p.text_limits.body}, CTA ${p.text_limits.cta}. Source: ${p.source}` : '');
    };
    presetSelect.addEventListener('change', showPreset);
    showPreset();
    const name = h('input', { name: 'name', required: true, maxlength: 200, placeholder: 'Homepage rectangle' });
    const form = h('form', { class: 'form-grid', id: 'placement-form' },
      field('Name', name), field('Preset', presetSelect), presetInfo, box,
      h('div', { class: 'actions' }, h('button', { type: 'submit' }, 'Add placement')));
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      clearProblem(box, form);
      try {
        await api('POST', '/v1/placements', { json: { campaign_id: campaign.id, name: name.value, preset: presetSelect.value } });
        flash('Placement added.');
        route();
      } catch (error) {
        showProblem(box, error, form);
      }
    });
    fill(panel, h('h2', {}, 'Placements'), list, h('div', { class: 'card' }, h('h3', {}, 'New placement'), form));
  }

  // ---------------------------------------------------------------------------------------
  // Generation jobs.

  async function renderGenerate(view, campaign, panel) {
    const cid = encodeURIComponent(campaign.id);
    const [segments, placements, textModel] = await Promise.all([
      listAll(`/v1/segments?campaign_id=${cid}`),
      listAll(`/v1/placements?campaign_id=${cid}`),
      api('GET', '/v1/models/text', { signal: view.signal }).catch(() => null),
    ]);
    const box = problemBox();
    // Segments whose language the text model does not write get an error instead of copy:
    // say so before generating, with how to configure a model that writes them.
    const written = new Set(((textModel && textModel.languages) || []).map((l) => String(l).toLowerCase()));
    const primary = (tag) => String(tag || '').split(/[-_]/)[0].toLowerCase();
    const unwritten = textModel ? segments.filter((s) => !written.has(primary(s.language))) : [];
    const languageNotice = unwritten.length === 0 ? null : h('div', { class: 'card notice', id: 'language-notice', role: 'note' },
      h('p', {}, `The text model (${textModel.model || textModel.name}) writes only ${[...written].join(', ') || 'no language'}. `
        + `These segments will get no creatives: ${unwritten.map((s) => `${s.name} (${s.language})`).join(', ')}.`),
      h('p', { class: 'muted' }, 'To write them, set text_model to a multilingual model (such as Qwen2.5) and list its languages in '
        + `text_model_languages, e.g. text_model_languages = [${[...new Set([...written, ...unwritten.map((s) => primary(s.language))])].map((l) => `"${l}"`).join(', ')}].`));
    const jobBox = h('div', { class: 'stack', id: 'job-progress' });
    const recent = h('div', { class: 'table-wrap', id: 'job-list' });
    const checks = (items, name, describe) => h('fieldset', { class: 'checks' }, h('legend', {}, name === 'segment_ids' ? 'Segments' : 'Placements'),
      items.length === 0 ? h('p', { class: 'muted' }, 'None yet.') : null,
      items.map((item) => h('label', { class: 'check' },
        h('input', { type: 'checkbox', name, value: item.id, checked: true }), ' ', describe(item))));
    const variants = h('select', { name: 'variants' }, [1, 2, 3, 4].map((n) => option(String(n), String(n), n === 2)));
    const form = h('form', { class: 'form-grid', id: 'generate-form' },
      checks(segments, 'segment_ids', (s) => `${s.name} (${s.language})`),
      checks(placements, 'placement_ids', (p) => `${p.name} · ${(p.image_sizes || []).join(', ') || 'text only'}`),
      field('Variants per segment and placement', variants),
      box,
      h('div', { class: 'actions' }, h('button', { type: 'submit' }, 'Generate creatives')));
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      clearProblem(box, form);
      const picked = (name) => [...form.querySelectorAll(`input[name="${name}"]:checked`)].map((el) => el.value);
      const body = { segment_ids: picked('segment_ids'), placement_ids: picked('placement_ids'), variants: Number(variants.value) };
      if (body.segment_ids.length === 0 || body.placement_ids.length === 0) {
        showProblem(box, new ApiProblem(422, { detail: 'Pick at least one segment and one placement.' }));
        return;
      }
      try {
        const job = await api('POST', `/v1/campaigns/${cid}/generate`, { json: body });
        jobBox.prepend(jobPanel(view, campaign, job));
        loadJobs();
      } catch (error) {
        showProblem(box, error, form);
      }
    });

    async function loadJobs() {
      try {
        const jobs = itemsOf(await api('GET', `/v1/jobs?campaign_id=${cid}`, { signal: view.signal }));
        if (jobs.length === 0) {
          fill(recent, h('p', { class: 'muted' }, 'No generation jobs yet.'));
          return;
        }
        fill(recent, h('table', { class: 'list' },
          h('thead', {}, h('tr', {}, ['Started', 'Status', 'Items', 'Failed', 'Error'].map((t) => h('th', {}, t)))),
          h('tbody', {}, jobs.map((job) => h('tr', {},
            h('td', { 'data-label': 'Started' }, formatTime(job.created_at)),
            h('td', { 'data-label': 'Status' }, badge(job.status)),
            h('td', { 'data-label': 'Items' }, `${job.items_done} / ${job.items_total}`),
            h('td', { 'data-label': 'Failed' }, String(job.items_failed)),
            h('td', { 'data-label': 'Error' }, job.error || ''))))));
        // Follow jobs that are still going (opened from another tab, or before a reload).
        for (const job of jobs) {
          if (!TERMINAL.has(job.status) && !jobBox.querySelector(`[data-job="${CSS.escape(job.id)}"]`)) {
            jobBox.append(jobPanel(view, campaign, job));
          }
        }
      } catch (error) {
        if (error.name !== 'AbortError') showProblem(box, error);
      }
    }

    fill(panel,
      h('h2', {}, 'Generate'),
      languageNotice,
      h('div', { class: 'card' }, form),
      jobBox,
      h('h3', {}, 'Recent jobs'),
      recent);
    await loadJobs();
  }

  /** A live view of one job: a progress bar that follows the job's event stream. */
  function jobPanel(view, campaign, initial) {
    const status = h('span', { class: 'job-status' });
    const bar = h('progress', { max: 1, value: 0 });
    const counts = h('span', { class: 'muted' });
    const error = h('p', { class: 'problem', hidden: true });
    const itemErrors = h('ul', { class: 'violations', hidden: true });
    const links = h('div', { class: 'actions' });
    const cancel = h('button', { type: 'button', class: 'secondary' }, 'Cancel');
    const panel = h('div', { class: 'card job', 'data-job': initial.id },
      h('div', { class: 'title-row' }, h('strong', {}, 'Generation job'), status), bar, counts, error, itemErrors, links);
    cancel.addEventListener('click', async () => {
      try {
        show(await api('POST', `/v1/jobs/${encodeURIComponent(initial.id)}/cancel`));
      } catch (e) {
        flash(e.detail || e.message);
      }
    });

    function show(job) {
      fill(status, badge(job.status));
      panel.dataset.status = job.status;
      // items_done counts finished items, failed ones included.
      bar.max = Math.max(1, job.items_total);
      bar.value = Math.min(job.items_done, bar.max);
      fill(counts, `${job.items_done} of ${job.items_total} items finished` + (job.items_failed ? `, ${job.items_failed} failed` : ''));
      error.hidden = !job.error;
      fill(error, job.error || '');
      const failures = job.item_errors || [];
      itemErrors.hidden = failures.length === 0;
      fill(itemErrors, failures.map((e) => h('li', {}, `Variant ${e.variant}: ${e.error}`)));
      if (TERMINAL.has(job.status)) {
        fill(links, h('a', { class: 'button', href: `#/campaigns/${encodeURIComponent(campaign.id)}/gallery` }, 'Open the gallery'));
      } else {
        fill(links, cancel);
      }
    }
    show(initial);
    if (!TERMINAL.has(initial.status)) follow(view, `/v1/jobs/${encodeURIComponent(initial.id)}`, show);
    return panel;
  }

  /**
   * Follows a job: reads its server-sent events through fetch (EventSource cannot send the
   * Authorization header) and falls back to polling once a second if the stream is unavailable.
   */
  async function follow(view, path, onUpdate) {
    let last = null;
    try {
      const response = await api('GET', `${path}/events`, { raw: true, signal: view.signal, headers: { Accept: 'text/event-stream' } });
      const reader = response.body.getReader();
      const decoder = new TextDecoder();
      let buffer = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += decoder.decode(value, { stream: true }).replace(/\r\n?/g, '\n');
        let end;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const data = block.split('\n').filter((l) => l.startsWith('data:')).map((l) => l.slice(5).trimStart()).join('\n');
          if (!data) continue;
          try {
            last = JSON.parse(data);
            onUpdate(last);
          } catch (_) { /* a keep-alive or a partial event */ }
        }
      }
    } catch (error) {
      if (!view.alive) return;
    }
    // The stream ended (or never started): poll until the job is over.
    while (view.alive && !(last && TERMINAL.has(last.status))) {
      try {
        last = await api('GET', path, { signal: view.signal });
        onUpdate(last);
      } catch (error) {
        if (!view.alive || error.status === 404) return;
      }
      if (!(last && TERMINAL.has(last.status))) await sleep(1000);
    }
  }

  function sleep(ms) {
    return new Promise((resolve) => setTimeout(resolve, ms));
  }

  // ---------------------------------------------------------------------------------------
  // Gallery.

  async function renderGallery(view, campaign, panel) {
    const cid = encodeURIComponent(campaign.id);
    const [segments, placements] = await Promise.all([
      listAll(`/v1/segments?campaign_id=${cid}`),
      listAll(`/v1/placements?campaign_id=${cid}`),
    ]);
    const segmentNames = new Map(segments.map((s) => [s.id, s.name]));
    const placementNames = new Map(placements.map((p) => [p.id, p.name]));
    const filter = h('select', { name: 'status' }, option('', 'All creatives'), CREATIVE_STATUSES.map((s) => option(s, s)));
    const grid = h('div', { class: 'gallery', id: 'gallery' });
    const more = h('button', { type: 'button', class: 'secondary', hidden: true }, 'Load more');
    const summary = h('p', { class: 'muted' });
    let offset = 0;

    async function load(reset) {
      if (reset) {
        offset = 0;
        grid.replaceChildren();
      }
      const query = new URLSearchParams({ campaign_id: campaign.id, limit: '24', offset: String(offset) });
      if (filter.value) query.set('status', filter.value);
      const page = await api('GET', `/v1/creatives?${query}`, { signal: view.signal });
      const items = itemsOf(page);
      for (const creative of items) grid.append(creativeCard(creative));
      offset += items.length;
      const total = page.total ?? offset;
      fill(summary, total === 0 ? 'No creatives yet: generate some on the Generate tab.' : `Showing ${offset} of ${total} creatives.`);
      more.hidden = offset >= total;
    }

    function creativeCard(creative) {
      const buttons = h('div', { class: 'actions' });
      const box = problemBox();
      const card = h('article', { class: 'card creative', 'data-creative': creative.id, 'data-status': creative.status },
        h('div', { class: 'title-row' }, badge(creative.status),
          h('span', { class: 'muted' }, [segmentNames.get(creative.segment_id), placementNames.get(creative.placement_id)].filter(Boolean).join(' · '))),
        h('div', { class: 'images' }, (creative.assets || []).map((asset) => {
          const [width, height] = String(asset.size).split('x').map(Number);
          return h('figure', {},
            h('img', {
              src: `/assets/${encodeURIComponent(asset.asset)}`, width, height, loading: 'lazy',
              alt: `${creative.headline} (${asset.size})`, class: 'creative-image',
            }),
            h('figcaption', {}, `${asset.size} · ${(asset.bytes / 1024).toFixed(0)} kB`));
        })),
        h('h3', { class: 'headline' }, creative.headline),
        creative.body ? h('p', { class: 'body' }, creative.body) : null,
        creative.cta ? h('p', {}, h('span', { class: 'cta' }, creative.cta)) : null,
        (creative.violations || []).length ? h('ul', { class: 'violations' }, creative.violations.map((v) =>
          h('li', {}, h('strong', {}, v.rule), ` in ${v.field}: ${v.message}`))) : null,
        creative.score !== null && creative.score !== undefined ? h('p', { class: 'muted' }, `Relevance ${Number(creative.score).toFixed(3)}`) : null,
        buttons, box);
      for (const [action, label] of [['approve', 'Approve'], ['reject', 'Reject']]) {
        const done = (action === 'approve' && creative.status === 'approved') || (action === 'reject' && creative.status === 'rejected');
        const button = h('button', { type: 'button', class: action === 'approve' ? '' : 'secondary', disabled: done, 'data-action': action }, label);
        button.addEventListener('click', async () => {
          button.disabled = true;
          try {
            const updated = await api('POST', `/v1/creatives/${encodeURIComponent(creative.id)}/${action}`);
            card.replaceWith(creativeCard(updated));
            flash(action === 'approve' ? 'Creative approved.' : 'Creative rejected.');
          } catch (error) {
            button.disabled = false;
            showProblem(box, error);
          }
        });
        buttons.append(button);
      }
      return card;
    }

    filter.addEventListener('change', () => load(true).catch((e) => flash(e.detail || e.message)));
    more.addEventListener('click', () => load(false).catch((e) => flash(e.detail || e.message)));
    fill(panel, h('div', { class: 'title-row' }, h('h2', {}, 'Gallery'), filter), summary, grid, more);
    await load(true);
  }

  // ---------------------------------------------------------------------------------------
  // Performance.

  async function renderStats(view, campaign, panel) {
    const stats = await api('GET', `/v1/campaigns/${encodeURIComponent(campaign.id)}/stats`, { signal: view.signal });
    const totals = stats.totals || { impressions: 0, clicks: 0, ctr: 0 };
    const creatives = stats.creatives || [];
    const segments = stats.segments || [];
    const refresh = h('button', { type: 'button', class: 'secondary' }, 'Refresh');
    refresh.addEventListener('click', () => route());
    fill(panel,
      h('div', { class: 'title-row' }, h('h2', {}, 'Performance'), refresh),
      h('div', { class: 'metrics', id: 'stats-totals' },
        metric('Impressions', totals.impressions.toLocaleString()),
        metric('Clicks', totals.clicks.toLocaleString()),
        metric('CTR', percent(totals.ctr))),
      h('h3', {}, 'By creative'),
      statsSection(creatives.map((c) => ({ ...c, label: c.headline || c.creative_id || 'Creative' })), 'creative-stats'),
      h('h3', {}, 'By segment'),
      statsSection(segments.map((s) => ({ ...s, label: s.name || (s.segment_id ? s.segment_id : 'No segment') })), 'segment-stats'),
      h('p', { class: 'hint' }, 'Creatives and segments appear here once ad servers have shown them (approved creatives of live campaigns, through a placement\'s serve key).'));
  }

  function metric(label, value) {
    return h('div', { class: 'metric' }, h('span', { class: 'metric-value' }, value), h('span', { class: 'metric-label' }, label));
  }

  function statsSection(rows, id) {
    if (rows.length === 0) return h('p', { class: 'muted', id }, 'Nothing to show yet.');
    return h('div', { id, class: 'stats-block' },
      barChart(rows),
      h('div', { class: 'table-wrap' }, h('table', { class: 'list numbers' },
        h('thead', {}, h('tr', {}, ['', 'Impressions', 'Clicks', 'CTR'].map((t) => h('th', {}, t)))),
        h('tbody', {}, rows.map((r) => h('tr', {},
          h('td', { 'data-label': '' }, r.label),
          h('td', { 'data-label': 'Impressions' }, r.impressions.toLocaleString()),
          h('td', { 'data-label': 'Clicks' }, r.clicks.toLocaleString()),
          h('td', { 'data-label': 'CTR' }, percent(r.ctr))))))));
  }

  /**
   * A horizontal bar chart as SVG: per row, impressions and clicks on one shared scale, with
   * the CTR written at the end. It scales with its container (viewBox, width 100%).
   */
  function barChart(rows) {
    const width = 640;
    const labelWidth = 200;
    const valueWidth = 90;
    const rowHeight = 44;
    const top = 28;
    const height = top + rows.length * rowHeight + 8;
    const max = Math.max(1, ...rows.map((r) => Math.max(r.impressions, r.clicks)));
    const scale = (width - labelWidth - valueWidth - 10) / max;
    const short = (text) => (String(text).length > 28 ? `${String(text).slice(0, 27)}…` : String(text));
    const chart = svg('svg', { class: 'chart', viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-label': 'Impressions, clicks and CTR' },
      svg('rect', { x: labelWidth, y: 6, width: 12, height: 12, class: 'bar-impressions' }),
      svg('text', { x: labelWidth + 18, y: 16, class: 'legend' }, 'impressions'),
      svg('rect', { x: labelWidth + 120, y: 6, width: 12, height: 12, class: 'bar-clicks' }),
      svg('text', { x: labelWidth + 138, y: 16, class: 'legend' }, 'clicks'),
      svg('text', { x: width - 4, y: 16, class: 'legend', 'text-anchor': 'end' }, 'CTR'));
    rows.forEach((r, i) => {
      const y = top + i * rowHeight;
      chart.append(
        svg('text', { x: labelWidth - 8, y: y + 22, class: 'axis-label', 'text-anchor': 'end' }, svg('title', {}, r.label), short(r.label)),
        svg('rect', { x: labelWidth, y: y + 4, width: Math.max(1, r.impressions * scale), height: 16, class: 'bar-impressions' }, svg('title', {}, `${r.impressions} impressions`)),
        svg('rect', { x: labelWidth, y: y + 22, width: Math.max(1, r.clicks * scale), height: 16, class: 'bar-clicks' }, svg('title', {}, `${r.clicks} clicks`)),
        svg('text', { x: width - 4, y: y + 26, class: 'value', 'text-anchor': 'end' }, percent(r.ctr)));
    });
    return chart;
  }

  // ---------------------------------------------------------------------------------------
  // Brand kits.

  async function renderBrandKits(view) {
    const kits = await listAll('/v1/brand-kits');
    const list = h('div', { class: 'table-wrap' });
    if (kits.length === 0) {
      append(list, h('p', { class: 'muted' }, 'No brand kits yet.'));
    } else {
      append(list, h('table', { class: 'list', id: 'brand-kit-list' },
        h('thead', {}, h('tr', {}, ['Name', 'Colours', 'Logo', 'Updated'].map((t) => h('th', {}, t)))),
        h('tbody', {}, kits.map((k) => h('tr', {},
          h('td', { 'data-label': 'Name' }, h('a', { href: `#/brand-kits/${encodeURIComponent(k.id)}` }, k.name)),
          h('td', { 'data-label': 'Colours' }, swatches(k.colors || [])),
          h('td', { 'data-label': 'Logo' }, k.logo_asset ? 'yes' : 'no'),
          h('td', { 'data-label': 'Updated' }, formatTime(k.updated_at)))))));
    }
    fill(app, h('h1', {}, 'Brand kits'), list,
      h('div', { class: 'card' }, h('h2', {}, 'New brand kit'),
        brandKitForm(null, (kit) => go(`#/brand-kits/${encodeURIComponent(kit.id)}`))));
  }

  function swatches(colors) {
    return h('span', { class: 'swatches' }, colors.map((color) => {
      const swatch = h('span', { class: 'swatch', title: color });
      // CSSOM is allowed by the style-src CSP; only validated #RRGGBB values get here.
      if (/^#[0-9a-fA-F]{6}$/.test(color)) swatch.style.backgroundColor = color;
      return swatch;
    }));
  }

  function brandKitForm(kit, onSaved) {
    const k = kit || {};
    const box = problemBox();
    const colors = h('input', { name: 'colors', value: (k.colors || []).join(', '), placeholder: '#0055FF, #FFCC00' });
    const preview = h('span', {});
    const showColors = () => fill(preview, swatches(splitList(colors.value, /[,\s]+/)));
    colors.addEventListener('input', showColors);
    showColors();
    const form = h('form', { class: 'form-grid', id: kit ? 'brand-kit-edit-form' : 'brand-kit-form' },
      field('Name', h('input', { name: 'name', required: true, maxlength: 200, value: k.name || '' })),
      field('Colours', colors, 'As #RRGGBB, most important first, separated by commas.'),
      preview,
      field('Font', h('input', { name: 'font', value: k.font || '', placeholder: 'Inter' })),
      field('Banned words', h('textarea', { name: 'banned_words', rows: 3, value: (k.banned_words || []).join('\n') }), 'One per line; copy must never contain them.'),
      field('Required phrases', h('textarea', { name: 'required_phrases', rows: 3, value: (k.required_phrases || []).join('\n') }), 'One per line; copy must contain them.'),
      field('Disclaimer', h('textarea', { name: 'disclaimer', rows: 2, value: k.disclaimer || '' }), 'Legal text shown on every creative.'),
      box,
      h('div', { class: 'actions' }, h('button', { type: 'submit' }, kit ? 'Save brand kit' : 'Create brand kit')));
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      clearProblem(box, form);
      const get = (name) => form.elements.namedItem(name).value;
      const body = {
        name: get('name'),
        colors: splitList(get('colors'), /[,\s]+/),
        font: get('font').trim() || null,
        banned_words: splitList(get('banned_words'), /\n/),
        required_phrases: splitList(get('required_phrases'), /\n/),
        disclaimer: get('disclaimer').trim() || null,
      };
      try {
        let saved;
        if (kit) {
          saved = await api('PATCH', `/v1/brand-kits/${encodeURIComponent(kit.id)}`, { json: body });
        } else {
          for (const key of ['font', 'disclaimer']) if (body[key] === null) delete body[key];
          saved = await api('POST', '/v1/brand-kits', { json: body });
        }
        flash(kit ? 'Brand kit saved.' : 'Brand kit created.');
        onSaved(saved);
      } catch (error) {
        showProblem(box, error, form);
      }
    });
    return form;
  }

  async function renderBrandKit(view, id) {
    const kit = await api('GET', `/v1/brand-kits/${encodeURIComponent(id)}`, { signal: view.signal });
    const logoBox = h('div', { class: 'logo-box', id: 'logo-preview' });
    const box = problemBox();
    const file = h('input', { type: 'file', name: 'logo', accept: 'image/png,image/jpeg,image/webp' });
    const upload = h('form', { class: 'form-grid', id: 'logo-form' },
      field('Logo (PNG, JPEG or WebP)', file), box,
      h('div', { class: 'actions' }, h('button', { type: 'submit' }, 'Upload logo')));

    async function showLogo(current) {
      if (!current.logo_asset) {
        fill(logoBox, h('p', { class: 'muted' }, 'No logo yet.'));
        return;
      }
      const response = await api('GET', `/v1/brand-kits/${encodeURIComponent(current.id)}/logo`, { raw: true, signal: view.signal });
      const url = view.blobUrl(await response.blob());
      fill(logoBox, h('img', { src: url, alt: `${current.name} logo`, class: 'logo' }));
    }

    upload.addEventListener('submit', async (event) => {
      event.preventDefault();
      clearProblem(box, upload);
      const chosen = file.files && file.files[0];
      if (!chosen) {
        showProblem(box, new ApiProblem(422, { detail: 'Choose an image file first.', field: 'logo' }), upload);
        return;
      }
      try {
        const updated = await api('PUT', `/v1/brand-kits/${encodeURIComponent(kit.id)}/logo`, {
          body: chosen, headers: { 'Content-Type': chosen.type || 'application/octet-stream' },
        });
        flash('Logo uploaded.');
        await showLogo(updated);
      } catch (error) {
        showProblem(box, error, upload);
      }
    });

    fill(app,
      h('p', { class: 'crumbs' }, h('a', { href: '#/brand-kits' }, 'Brand kits'), ' / '),
      h('h1', {}, kit.name),
      h('div', { class: 'columns' },
        h('div', { class: 'card' }, h('h2', {}, 'Details'), brandKitForm(kit, () => route())),
        h('div', { class: 'card' }, h('h2', {}, 'Logo'), logoBox, upload)));
    await showLogo(kit);
  }

  // ---------------------------------------------------------------------------------------
  // Batches.

  /** Uploads a file with XMLHttpRequest, which (unlike fetch) reports upload progress. */
  function uploadWithProgress(path, formData, onProgress) {
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      xhr.open('POST', path);
      xhr.setRequestHeader('Authorization', `Bearer ${apiKey()}`);
      xhr.responseType = 'text';
      xhr.upload.addEventListener('progress', (event) => {
        if (event.lengthComputable) onProgress(event.loaded, event.total);
      });
      xhr.addEventListener('load', () => {
        let body = {};
        try { body = JSON.parse(xhr.responseText); } catch (_) { body = { title: xhr.statusText }; }
        if (xhr.status === 401) {
          signOut('Your key was not accepted any more; please sign in again.');
          reject(new ApiProblem(401, body));
        } else if (xhr.status >= 200 && xhr.status < 300) {
          resolve(body);
        } else {
          reject(new ApiProblem(xhr.status, body));
        }
      });
      xhr.addEventListener('error', () => reject(new ApiProblem(0, { detail: 'The upload failed: the server could not be reached.' })));
      xhr.send(formData);
    });
  }

  async function renderBatches(view) {
    const box = problemBox();
    const file = h('input', { type: 'file', name: 'file', accept: '.csv,text/csv', required: true });
    const pictures = h('input', { type: 'file', name: 'images', accept: 'image/png,image/jpeg,image/webp', multiple: true });
    const uploadBar = h('progress', { max: 1, value: 0, hidden: true });
    const panels = h('div', { class: 'stack', id: 'batch-list' });
    const form = h('form', { class: 'form-grid', id: 'batch-form' },
      field('CSV file', file, 'One row per creative to make: campaign, segment and placement columns (see assets/ for a sample file). UTF-8, comma or semicolon separated.'),
      field('Product photos (optional)', pictures, 'The pictures a product_image column names by file name.'),
      uploadBar, box,
      h('div', { class: 'actions' }, h('button', { type: 'submit' }, 'Upload and start')));
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      clearProblem(box, form);
      const chosen = file.files && file.files[0];
      if (!chosen) return;
      const data = new FormData();
      data.append('file', chosen, chosen.name);
      for (const picture of Array.from(pictures.files || [])) data.append('images', picture, picture.name);
      uploadBar.hidden = false;
      uploadBar.value = 0;
      try {
        const batch = await uploadWithProgress('/v1/batches', data, (loaded, total) => {
          uploadBar.max = total;
          uploadBar.value = loaded;
        });
        panels.prepend(batchPanel(view, batch));
        form.reset();
      } catch (error) {
        showProblem(box, error, form);
      } finally {
        uploadBar.hidden = true;
      }
    });
    fill(app, h('h1', {}, 'Batches'), h('div', { class: 'card' }, h('h2', {}, 'Upload a CSV'), form), panels);
    // The advertiser's latest batches, newest first, from whichever browser they were sent.
    try {
      const page = await api('GET', '/v1/batches?limit=20', { signal: view.signal });
      for (const batch of page.items) panels.append(batchPanel(view, batch));
    } catch (error) {
      if (error.name === 'AbortError') return;
      showProblem(box, error, form);
    }
  }

  /** One batch: progress, row errors and, once finished, its downloads. */
  function batchPanel(view, initial) {
    const status = h('span', {});
    const bar = h('progress', { max: 1, value: 0 });
    const counts = h('span', { class: 'muted' });
    const failure = h('p', { class: 'problem', hidden: true });
    const errors = h('div', { class: 'table-wrap' });
    const downloads = h('div', { class: 'actions' });
    const box = problemBox();
    const panel = h('article', { class: 'card batch', 'data-batch': initial.id },
      h('div', { class: 'title-row' }, h('strong', {}, initial.file_name || `Batch ${initial.id}`), status),
      h('p', { class: 'muted' }, `Uploaded ${formatTime(initial.created_at)}`),
      bar, counts, failure, errors, downloads, box);
    const id = encodeURIComponent(initial.id);

    function show(batch) {
      panel.dataset.status = batch.status;
      fill(status, badge(batch.status));
      bar.max = Math.max(1, batch.rows_total);
      bar.value = batch.rows_done + batch.rows_failed;
      fill(counts, `${batch.rows_done} of ${batch.rows_total} rows done` + (batch.rows_failed ? `, ${batch.rows_failed} failed` : ''));
      failure.hidden = !batch.error;
      fill(failure, batch.error || '');
      const rowErrors = batch.errors || [];
      fill(errors, rowErrors.length === 0 ? null : h('table', { class: 'list batch-errors' },
        h('thead', {}, h('tr', {}, ['Row', 'Column', 'Problem'].map((t) => h('th', {}, t)))),
        h('tbody', {}, rowErrors.map((e) => h('tr', {},
          h('td', { 'data-label': 'Row' }, String(e.row ?? '')),
          h('td', { 'data-label': 'Column' }, e.column ?? ''),
          h('td', { 'data-label': 'Problem' }, e.message ?? ''))))));
      if (TERMINAL.has(batch.status) && !downloads.firstChild) {
        for (const [file, label] of [['results.csv', 'Download results (CSV)'], ['images.zip', 'Download images (zip)']]) {
          const button = h('button', { type: 'button', class: 'secondary', 'data-download': file }, label);
          button.addEventListener('click', async () => {
            clearProblem(box);
            try {
              await download(`/v1/batches/${id}/${file}`, `batch-${initial.id}-${file}`);
            } catch (error) {
              showProblem(box, error);
            }
          });
          downloads.append(button);
        }
      }
    }
    show(initial);
    (async () => {
      let batch = initial;
      while (view.alive && !TERMINAL.has(batch.status)) {
        await sleep(1000);
        try {
          batch = await api('GET', `/v1/batches/${id}`, { signal: view.signal });
          show(batch);
        } catch (error) {
          if (!view.alive || error.status === 404) return;
        }
      }
    })();
    return panel;
  }

  // ---------------------------------------------------------------------------------------

  document.getElementById('sign-out').addEventListener('click', () => signOut());
  window.addEventListener('hashchange', route);
  route();
})();
