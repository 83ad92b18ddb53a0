"""The leaderboard page's inline stylesheet (``CSS``) and script (``SCRIPT``: sortable headers, the
column toggle, the metric-view selector and the ``#selftest`` check the browser test reads).

Kept apart from ``html`` because they are static text, not page logic; the page inlines both, so it
opens from disk with no network."""

from __future__ import annotations

CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222;background:#fff}
h1{font-size:22px}h2{font-size:18px;margin-top:32px}h3{font-size:15px}
table{border-collapse:collapse;margin:8px 0 16px}
th,td{border:1px solid #ddd;padding:3px 7px;text-align:right;white-space:nowrap}
td.s,th.s{text-align:left}
th.sortable{cursor:pointer;background:#f3f3f3;user-select:none}
th.sortable:hover{background:#e6e6e6}
th[aria-sort=descending]::after{content:" \\25BC"}th[aria-sort=ascending]::after{content:" \\25B2"}
.heat td{min-width:42px;font-size:12px}
.note{color:#555;font-size:12px;max-width:1000px}
svg{background:#fafafa;border:1px solid #ddd}
p.signal{font-size:14px;background:#f4f7fb;border-left:4px solid #1f77b4;padding:6px 10px;max-width:1100px}
h2.lead{border-bottom:2px solid #1f77b4}
svg.forest text{font:12px system-ui,sans-serif}
#selftest{font-size:11px;color:#555}
tr.flagged td{background:#fde0dc;color:#a40000;font-weight:bold}
h4{font-size:14px;margin:10px 0 4px}
nav.toc{background:#f7f7f7;border:1px solid #ddd;padding:8px 14px;max-width:1100px}
nav.toc ul{margin:4px 0;padding-left:20px}nav.toc li{margin:2px 0}
.wide{max-width:100%;overflow-x:auto}
table.board th{white-space:normal;vertical-align:bottom;max-width:130px;font-size:13px}
table.board .fold{display:none}table.board.all .fold{display:table-cell}
button.cols{font-size:12px;margin:2px 0;cursor:pointer;max-width:100%;white-space:normal;text-align:left}
span.links{font-size:12px;margin-left:6px}span.links a{color:#1f5fa0}
td code,th code{font-size:12px}
.heat th.task{vertical-align:bottom;padding:3px 2px}
.heat th.task span{writing-mode:vertical-rl;transform:rotate(180deg);font-weight:normal;font-size:11px;max-height:170px;
  overflow:hidden;text-overflow:ellipsis;display:inline-block}
.heat td{min-width:34px;font-size:11px;padding:2px 4px}
p.heatlegend span{display:inline-block;min-width:34px;text-align:center;border:1px solid #ddd;font-size:11px}
details.views,details.heatmap{margin:4px 0 14px}details>summary{cursor:pointer;color:#1f5fa0}
table.view td.bar{position:relative;width:240px;min-width:240px;padding:0}
td.bar span.ci{position:absolute;top:50%;height:2px;background:#1f77b4}
td.bar span.pt{position:absolute;top:calc(50% - 4px);width:8px;height:8px;margin-left:-4px;border-radius:50%;background:#1f77b4}
table.view td.note{font-size:11px;white-space:normal;max-width:380px}
p.read{font-style:italic}
"""


SCRIPT = r"""
function sortTable(th){
  const table=th.closest('table'), body=table.tBodies[0];
  const idx=Array.from(th.parentNode.children).indexOf(th);
  const numeric=th.dataset.type==='num';
  const dir=th.getAttribute('aria-sort')==='descending'?'ascending':'descending';
  table.querySelectorAll('th').forEach(h=>h.removeAttribute('aria-sort'));
  th.setAttribute('aria-sort',dir);
  const key=tr=>{const v=tr.children[idx].dataset.v;
    if(numeric){const x=parseFloat(v);return isNaN(x)?-Infinity:x;} return (v||'').toLowerCase();};
  const rows=Array.from(body.rows);
  rows.sort((a,b)=>{const ka=key(a),kb=key(b);const c=ka<kb?-1:ka>kb?1:0;return dir==='ascending'?c:-c;});
  rows.forEach(r=>body.appendChild(r));
}
document.querySelectorAll('table.board th.sortable').forEach(th=>th.addEventListener('click',()=>sortTable(th)));
function toggleColumns(b){
  const t=document.getElementById(b.dataset.for), on=t.classList.toggle('all');
  if(!b.dataset.label) b.dataset.label=b.textContent;
  b.textContent=on?'hide the extra columns':b.dataset.label;
  b.setAttribute('aria-pressed',on?'true':'false');
}
document.querySelectorAll('button.cols').forEach(b=>b.addEventListener('click',()=>toggleColumns(b)));
function showMetric(sel){
  document.getElementById(sel.dataset.for).querySelectorAll('table.view')
    .forEach(t=>{t.hidden=t.dataset.metric!==sel.value;});
}
document.querySelectorAll('select.metric').forEach(s=>s.addEventListener('change',()=>showMetric(s)));
function layout(){   // what overflows the viewport: the page's scroll width and the widest shown box
  const shown=Array.from(document.querySelectorAll('table,svg,nav,p,pre,h1,h2,h3,button'))
    .filter(x=>x.getClientRects().length>0&&!x.closest('.wide table'));
  const wide=Array.from(document.querySelectorAll('.wide')).filter(x=>x.getClientRects().length>0);
  return {viewport:window.innerWidth,scroll_width:document.documentElement.scrollWidth,
    widest:Math.max(0,...shown.map(x=>x.getBoundingClientRect().right)),
    scrolled:wide.filter(x=>x.scrollWidth>x.clientWidth+1).map(x=>(x.querySelector('table')||{}).id||x.firstChild.className)};
}
function selftest(){
  const out={tables:0,rows:0,checks:[],ok:true};
  const tables=document.querySelectorAll('table.board');
  out.tables=tables.length;
  tables.forEach(t=>{
    out.rows+=t.tBodies[0].rows.length;
    const ths=Array.from(t.querySelectorAll('th.sortable'));
    for(const th of ths){
      const idx=Array.from(th.parentNode.children).indexOf(th);
      const numeric=th.dataset.type==='num';
      for(const want of ['descending','ascending']){
        th.click();
        const vals=Array.from(t.tBodies[0].rows).map(r=>r.children[idx].dataset.v);
        const keys=vals.map(v=>numeric?(isNaN(parseFloat(v))?-Infinity:parseFloat(v)):(v||'').toLowerCase());
        let sorted=th.getAttribute('aria-sort')===want;
        for(let i=1;i<keys.length;i++){ if(want==='descending'?keys[i-1]<keys[i]:keys[i-1]>keys[i]) sorted=false; }
        const subs=Array.from(t.tBodies[0].rows).map(r=>r.children[1].dataset.v);
        out.checks.push({table:t.id,column:th.dataset.col,order:want,values:vals,submissions:subs,sorted:sorted});
        if(!sorted) out.ok=false;
      }
    }
  });
  out.heatmaps=document.querySelectorAll('table.heat').length;
  out.plots=document.querySelectorAll('svg.plot circle').length;
  const forests=Array.from(document.querySelectorAll('svg.forest'));
  const firstBoard=document.querySelector('table.board');
  out.forests=forests.length;
  out.forest_entries=document.querySelectorAll('svg.forest g.entry').length;
  out.forest_scale=forests.length?forests[0].dataset.scale:null;
  out.forest_first=forests.length>0&&!!firstBoard&&
    (forests[0].compareDocumentPosition(firstBoard)&Node.DOCUMENT_POSITION_FOLLOWING)>0;
  out.forest_ordered=true;
  forests.forEach(f=>{
    const higher=f.dataset.higher==='1';
    f.querySelectorAll('g.track').forEach(g=>{
      const m=Array.from(g.querySelectorAll('g.entry')).map(e=>parseFloat(e.dataset.mean));
      for(let i=1;i<m.length;i++){ if(higher?m[i-1]<m[i]:m[i-1]>m[i]) out.forest_ordered=false; }
      g.querySelectorAll('g.entry').forEach(e=>{   // the point lies on its bar
        const c=e.querySelector('circle'), l=e.querySelector('line.ci');
        if(l){const x=parseFloat(c.getAttribute('cx'));
          if(x<parseFloat(l.getAttribute('x1'))-0.5||x>parseFloat(l.getAttribute('x2'))+0.5) out.forest_ordered=false;}
      });
    });
  });
  out.sections=Array.from(document.querySelectorAll('h2.scale')).map(h=>h.dataset.scale);
  // the table of contents: every link lands on an element of the page, the lead scale first
  const toc=Array.from(document.querySelectorAll('nav.toc a'));
  out.toc=toc.map(a=>a.getAttribute('href'));
  out.toc_ok=toc.length>0&&toc.every(a=>{const h=a.getAttribute('href');
    return h.startsWith('#')&&!!document.getElementById(decodeURIComponent(h.slice(1)));});
  // per entry: links to its recipe and README, the commit and date of its rows
  out.links=Array.from(document.querySelectorAll('table.board td span.links a')).map(a=>a.getAttribute('href'));
  out.made=Array.from(document.querySelectorAll('table.board tbody tr')).map(r=>r.lastElementChild.textContent);
  // the view by each metric: every option shows exactly its table, best mean first (ranks are
  // stats' tie ranks: an entry with a wider interval can tie where a better mean does not)
  out.views=[];
  document.querySelectorAll('details.views').forEach(d=>{
    d.open=true;
    const sel=d.querySelector('select.metric');
    for(const o of Array.from(sel.options)){
      sel.value=o.value; sel.dispatchEvent(new Event('change'));
      const shown=Array.from(d.querySelectorAll('table.view')).filter(t=>!t.hidden&&t.getClientRects().length>0);
      const t=shown[0], higher=t&&t.dataset.higher==='1';
      const rs=t?Array.from(t.tBodies[0].rows):[];
      const ranks=rs.map(r=>parseInt(r.dataset.rank)), means=rs.map(r=>parseFloat(r.dataset.mean));
      let ok=shown.length===1&&t.dataset.metric===o.value&&rs.length>0;
      for(let i=1;i<rs.length;i++){
        if(!isNaN(means[i])&&!isNaN(means[i-1])&&(higher?means[i]>means[i-1]:means[i]<means[i-1])) ok=false;
      }
      out.views.push({box:d.id,metric:o.value,rows:rs.length,ranks:ranks,ok:ok});
      if(!ok) out.ok=false;
    }
    sel.selectedIndex=0; sel.dispatchEvent(new Event('change')); d.open=false;
  });
  // nothing overflows the viewport, with the folded columns hidden and shown
  out.layout=layout();
  const first=document.querySelector('button.cols');
  if(first){ first.click(); out.layout_all=layout(); out.unfolded=document.querySelectorAll('table.board.all td.fold').length>0
    &&getComputedStyle(document.querySelector('table.board.all td.fold')).display!=='none'; first.click(); }
  if(!out.toc_ok||out.layout.scroll_width>out.layout.viewport) out.ok=false;
  out.signal=Array.from(document.querySelectorAll('p.signal')).map(p=>p.textContent);
  if(!out.forest_ordered) out.ok=false;
  if(out.rows===0) out.ok=false;
  document.getElementById('selftest').textContent=JSON.stringify(out);
  document.title=(out.ok?'SELFTEST PASS':'SELFTEST FAIL')+' '+document.title;
}
if(location.hash==='#selftest') selftest();
"""

